package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import tools.jackson.databind.JsonNode;

/**
 * One test per hostile input that once got a 5xx or took the server down; each ends with a normal completion.
 */
@ExtendWith(OutputCaptureExtension.class)
class HostileRequestsTest extends HostileInputTestSupport {

    private static final int MB = 1024 * 1024;

    @Test
    void nTimesPromptsThatWrapsInIntIsRefusedNamingN() {
        String key = newTenant("wrap");
        // 4 x (2^30 + 1) is 4 in int arithmetic: once served as ~4.3e9 generations, an outage.
        HttpResponse<String> wraps = postJson(key, "{\"model\":\"stories15M\",\"prompt\":[\"a\",\"b\",\"c\",\"d\"],"
                + "\"n\":1073741825,\"max_tokens\":2}");
        assertThat(wraps.statusCode()).as(wraps.body()).isEqualTo(400);
        assertThat(assertErrorShape(wraps).get("param").asString()).isEqualTo("n");
        // 2 x 2^30 is negative in int: once a 500 (NegativeArraySizeException).
        HttpResponse<String> negative = postJson(key, "{\"model\":\"stories15M\",\"prompt\":[\"a\",\"b\"],"
                + "\"n\":1073741824,\"max_tokens\":2}");
        assertThat(negative.statusCode()).as(negative.body()).isEqualTo(400);
        assertThat(assertErrorShape(negative).get("param").asString()).isEqualTo("n");
        // Within the configured maximum per request, but not times the prompts.
        HttpResponse<String> product = postJson(key, "{\"model\":\"stories15M\",\"prompt\":[\"a\",\"b\"],"
                + "\"n\":16,\"max_tokens\":2}");
        assertThat(product.statusCode()).isEqualTo(400);
        assertThat(assertErrorShape(product).get("message").asString()).contains("16 x 2", "reft.engine.max-n");
        HttpResponse<String> zero = postJson(key, "{\"model\":\"stories15M\",\"prompt\":\"a\",\"n\":0}");
        assertThat(assertErrorShape(zero).get("param").asString()).isEqualTo("n");
        assertStillServing(key);
    }

    @Test
    void aPromptLongerThanTheContextCanHoldIsRefusedOnItsBytesNamingPrompt() {
        String key = newTenant("long");
        // stories15M: context 256 tokens, so 256 x 64 bytes at most; this is one byte more.
        String prompt = "a".repeat(256 * 64 + 1);
        HttpResponse<String> r = postJson(key, "{\"model\":\"stories15M\",\"prompt\":\"" + prompt + "\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        JsonNode error = assertErrorShape(r);
        assertThat(error.get("param").asString()).isEqualTo("prompt");
        assertThat(error.get("message").asString()).contains("16385 bytes", "16384 bytes");
        assertStillServing(key);
    }

    @Test
    void bodiesOverTheCapAnswer413WhetherDeclaredOrChunked() {
        String key = newTenant("huge");
        byte[] eightMb = ("{\"model\":\"stories15M\",\"prompt\":\"" + "a".repeat(8 * MB) + "\"}")
                .getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> declared = send("POST", "/v1/completions", key, "application/json", eightMb, false);
        assertThat(declared.statusCode()).isEqualTo(413);
        assertThat(assertErrorShape(declared).get("code").asString()).isEqualTo("request_too_large");
        HttpResponse<String> chunked = send("POST", "/v1/completions", key, "application/json", eightMb, true);
        assertThat(chunked.statusCode()).isEqualTo(413);
        assertThat(assertErrorShape(chunked).get("message").asString()).contains("reft.api.max-body-bytes");
        // The cap holds for every JSON endpoint, e.g. a task definition.
        HttpResponse<String> task = send("PUT", "/v1/tasks/t", key, "application/json", eightMb, true);
        assertThat(task.statusCode()).isEqualTo(413);
        assertStillServing(key);
    }

    @Test
    void requestsTheContainerCannotParseGet400InTheErrorShapeNotAnHtmlPage() throws Exception {
        String key = newTenant("unparsable");
        String bigHeader = "X-Big: " + "a".repeat(20_000) + "\r\n";
        for (String[] raw : new String[][] {{"GET /v1/models?x={ HTTP/1.1\r\n", ""},
                {"GET /v1/models?x=| HTTP/1.1\r\n", ""}, {"GET /v1/mo%zzdels HTTP/1.1\r\n", ""},
                {"GET /v1/models HTTP/1.1\r\n", bigHeader}}) {
            String request = raw[0] + "Host: localhost\r\nAuthorization: Bearer " + key + "\r\n" + raw[1]
                    + "Connection: close\r\n\r\n";
            String answer;
            try (java.net.Socket socket = new java.net.Socket("localhost", port)) {
                socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
                answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            }
            String what = raw[0].strip() + (raw[1].isEmpty() ? "" : " with a 20 KB header");
            assertThat(answer).as(what).startsWith("HTTP/1.1 400 ");
            assertThat(answer.toLowerCase(java.util.Locale.ROOT)).as(what)
                    .contains("content-type: application/json");
            JsonNode error = tools.jackson.databind.json.JsonMapper.builder().build()
                    .readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4)).get("error");
            assertThat(error.get("type").asString()).as(what).isEqualTo("invalid_request_error");
            assertThat(error.get("message").asString()).as(what)
                    .startsWith("the request's line, URL or headers could not be read (HTTP 400)");
        }
        // OpenAI's list filters, brackets unencoded, are read.
        HttpResponse<String> filtered = client.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                + "/v1/fine_tuning/jobs?metadata[team]=a")).header("Authorization", "Bearer " + key).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(filtered.statusCode()).as(filtered.body()).isEqualTo(200);
        assertStillServing(key);
    }

    @Test
    void anAcceptHeaderThatExcludesTheAnswerGets406InTheErrorShapeWithoutAnErrorLog(CapturedOutput output)
            throws Exception {
        String key = newTenant("accept");
        String completion = "{\"model\":\"" + BASE_MODEL + "\",\"prompt\":\"Once\",\"max_tokens\":2}";
        for (String[] call : new String[][] {{"GET", "/v1/models", null}, {"GET", "/v1/interventions", null},
                {"POST", "/v1/completions", completion}, {"GET", "/v1/interventions/none/bundle", null}}) {
            for (String accept : new String[] {"image/png", "text/csv", "application/binary"}) {
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + call[1]))
                        .header("Authorization", "Bearer " + key).header("Accept", accept)
                        .header("Content-Type", "application/json");
                b.method(call[0], call[2] == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(call[2]));
                HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
                String what = call[0] + " " + call[1] + " Accept: " + accept;
                assertThat(r.statusCode()).as(what + ": " + r.body()).isIn(404, 406);
                JsonNode error = assertErrorShape(r);
                if (r.statusCode() == 406) {
                    assertThat(error.get("code").asString()).as(what).isEqualTo("not_acceptable");
                }
            }
        }
        assertThat(output.getOut() + output.getErr()).doesNotContain(" ERROR ");
        assertStillServing(key);
    }

    @Test
    void malformedMultipartAnswers400BadMultipartWithoutAnErrorLog(CapturedOutput output) {
        String key = newTenant("multipart");
        byte[] part = ("--xyz\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"a.zip\"\r\n\r\n"
                + "PK\u0003\u0004\r\n--xyz--\r\n").getBytes(StandardCharsets.ISO_8859_1);
        // No boundary parameter.
        HttpResponse<String> noBoundary = send("POST", "/v1/interventions", key, "multipart/form-data", part, false);
        assertThat(noBoundary.statusCode()).as(noBoundary.body()).isEqualTo(400);
        assertThat(assertErrorShape(noBoundary).get("code").asString()).isEqualTo("bad_multipart");
        // A boundary the body never uses, then a body cut off in a part's headers.
        HttpResponse<String> wrongBoundary = send("POST", "/v1/interventions", key,
                "multipart/form-data; boundary=other", part, false);
        assertThat(wrongBoundary.statusCode()).as(wrongBoundary.body()).isBetween(400, 499);
        assertErrorShape(wrongBoundary);
        HttpResponse<String> truncated = send("POST", "/v1/interventions", key, "multipart/form-data; boundary=xyz",
                "--xyz\r\nContent-Disposition: form-da".getBytes(StandardCharsets.ISO_8859_1), false);
        assertThat(truncated.statusCode()).as(truncated.body()).isEqualTo(400);
        assertThat(assertErrorShape(truncated).get("code").asString()).isEqualTo("bad_multipart");
        // A NUL in the file name.
        HttpResponse<String> nul = http().upload(key, "a\u0000b.zip", Http.zip("nul"), Map.of());
        assertThat(nul.statusCode()).as(nul.body()).isBetween(200, 499);
        if (nul.statusCode() >= 400) {
            assertErrorShape(nul);
        }
        // Not multipart at all.
        HttpResponse<String> plain = send("POST", "/v1/interventions", key, "text/plain", part, false);
        assertThat(plain.statusCode()).isEqualTo(415);
        assertErrorShape(plain);
        assertThat(output.getOut() + output.getErr()).doesNotContain(" ERROR ");
        assertStillServing(key);
    }

    @Test
    void quotasOverHttpAnswer429And413And400NamingTheSetting() {
        String key = newTenant("quota");
        Random random = new Random(7);
        byte[] big = Http.zip(randomText(random, 40_000));
        HttpResponse<String> first = http().upload(key, "a.zip", big, Map.of());
        assertThat(first.statusCode()).as(first.body()).isEqualTo(201);
        assertThat(json.readTree(first.body()).get("bytes").asLong()).isGreaterThan(24 * 1024);
        // Stored bytes: 48KB in all.
        HttpResponse<String> bytes = http().upload(key, "b.zip", Http.zip(randomText(random, 40_000)), Map.of());
        assertThat(bytes.statusCode()).as(bytes.body()).isEqualTo(413);
        JsonNode bytesError = assertErrorShape(bytes);
        assertThat(bytesError.get("code").asString()).isEqualTo("quota_exceeded");
        assertThat(bytesError.get("message").asString()).contains("reft.quotas.stored-bytes");
        // Interventions: 2 names.
        assertThat(http().upload(key, "b.zip", Http.zip("b"), Map.of()).statusCode()).isEqualTo(201);
        HttpResponse<String> names = http().upload(key, "c.zip", Http.zip("c"), Map.of());
        assertThat(names.statusCode()).as(names.body()).isEqualTo(429);
        assertThat(assertErrorShape(names).get("message").asString()).contains("reft.quotas.interventions");
        // Tasks: 2; routes per task: 4.
        assertThat(http().put("/v1/tasks/t1", key, "{\"intervention\":\"b\"}").statusCode()).isEqualTo(200);
        assertThat(http().put("/v1/tasks/t2", key, "{\"intervention\":\"b\"}").statusCode()).isEqualTo(200);
        HttpResponse<String> tasks = http().put("/v1/tasks/t3", key, "{\"intervention\":\"b\"}");
        assertThat(tasks.statusCode()).as(tasks.body()).isEqualTo(429);
        assertThat(assertErrorShape(tasks).get("message").asString()).contains("reft.quotas.tasks");
        String fiveRoutes = "{\"routes\":[" + "{\"intervention\":\"b@1\",\"weight\":1},".repeat(4)
                + "{\"intervention\":\"b@1\",\"weight\":1}]}";
        HttpResponse<String> routes = http().put("/v1/tasks/t1", key, fiveRoutes);
        assertThat(routes.statusCode()).as(routes.body()).isEqualTo(400);
        JsonNode routesError = assertErrorShape(routes);
        assertThat(routesError.get("param").asString()).isEqualTo("routes");
        assertThat(routesError.get("message").asString()).contains("reft.quotas.routes-per-task");
        // 100,000 routes in one body (3.5 MB, within reft.api.max-body-bytes, so the controller reads it; a body
        // over the cap is bodiesOverTheCapAnswer413WhetherDeclaredOrChunked's): refused before any route is looked up.
        String manyRoutes = "{\"routes\":[" + "{\"intervention\":\"b@1\",\"weight\":1},".repeat(99_999)
                + "{\"intervention\":\"b@1\",\"weight\":1}]}";
        assertThat(manyRoutes.length()).isLessThan(4 * MB);
        HttpResponse<String> many = http().put("/v1/tasks/t1", key, manyRoutes);
        assertThat(many.statusCode()).as(many.body()).isEqualTo(400);
        JsonNode manyError = assertErrorShape(many);
        assertThat(manyError.get("param").asString()).isEqualTo("routes");
        assertThat(manyError.get("message").asString()).contains("reft.quotas.routes-per-task");
        assertStillServing(key);
    }

    private static String randomText(Random random, int length) {
        StringBuilder sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            sb.append((char) (33 + random.nextInt(94)));
        }
        return sb.toString();
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ReferenceFiles;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The completions endpoint over real HTTP on the default model. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "reft.store.path=target/test-stores/completion-api")
class CompletionApiTest {

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    final HttpClient http = HttpClient.newHttpClient();

    HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void greedyCompletionMatchesReferenceText() throws Exception {
        JsonNode ref = json.readTree(ReferenceFiles.resource("reference/base/base_reference.json").toFile())
                .get("prompts").get(0);
        HttpResponse<String> r = post("/v1/completions", """
                {"model":"stories15M","prompt":"%s","max_tokens":32,"temperature":0}
                """.formatted(ref.get("text").asString()));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("X-Reft-Intervention")).contains("none");
        JsonNode body = json.readTree(r.body());
        String fullText = ref.get("greedy_32").get("full_text").asString();
        assertThat(ref.get("text").asString() + body.get("choices").get(0).get("text").asString())
                .isEqualTo(fullText);
        assertThat(body.get("choices").get(0).get("finish_reason").asString()).isEqualTo("length");
        assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(32);
        assertThat(body.get("usage").get("prompt_tokens").asInt()).isEqualTo(ref.get("ids").size());
    }

    @Test
    void streamedDeltasConcatenateToTheFullCompletion() throws Exception {
        String req = """
                {"model":"stories15M","prompt":"The little dog","max_tokens":40,"temperature":0%s}""";
        HttpResponse<String> whole = post("/v1/completions", req.formatted(""));
        String expected = json.readTree(whole.body()).get("choices").get(0).get("text").asString();
        HttpResponse<String> sse = post("/v1/completions",
                req.formatted(",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        assertThat(sse.statusCode()).isEqualTo(200);
        assertThat(sse.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        StringBuilder text = new StringBuilder();
        List<String> data = new ArrayList<>();
        for (String line : sse.body().split("\n")) {
            if (line.startsWith("data: ")) {
                data.add(line.substring(6));
            }
        }
        assertThat(data.get(data.size() - 1)).isEqualTo("[DONE]");
        String finish = null;
        JsonNode usage = null;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = json.readTree(d);
            if (chunk.get("choices").isEmpty()) {
                usage = chunk.get("usage");
                continue;
            }
            text.append(chunk.get("choices").get(0).get("text").asString());
            if (!chunk.get("choices").get(0).get("finish_reason").isNull()) {
                finish = chunk.get("choices").get(0).get("finish_reason").asString();
            }
        }
        assertThat(text.toString()).isEqualTo(expected);
        assertThat(finish).isEqualTo("length");
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(40);
    }

    /** Each event must be flushed as it is made, not held in a response buffer until the stream ends. */
    @Test
    void streamSendsEventsAsTheyAreGeneratedNotBuffered() throws Exception {
        String body = "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":200,"
                + "\"temperature\":0,\"stream\":true}";
        try (java.net.Socket socket = new java.net.Socket("localhost", port)) {
            socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n"
                    + "Connection: close\r\n\r\n" + body).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            java.io.InputStream in = socket.getInputStream();
            byte[] buf = new byte[65536];
            String first = "";
            // Read until the first event has arrived; whatever came with it is what the server had flushed.
            while (!first.contains("data: ")) {
                int n = in.read(buf);
                assertThat(n).as("stream ended before any event").isPositive();
                first += new String(buf, 0, n, java.nio.charset.StandardCharsets.UTF_8);
            }
            int events = first.split("data: ", -1).length - 1;
            // 200 events of ~200 bytes: a buffered response would deliver its first 8 KiB (~40 events) at once.
            assertThat(events).as("events delivered together with the first one").isLessThan(8);
        }
    }

    @Test
    void badRequestsAnswer400NamingTheField() throws Exception {
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":[]}"), 400, "prompt");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"hi\",\"max_tokens\":-1}"), 400,
                "max_tokens");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"hi\",\"max_tokens\":100000}"),
                400, "max_tokens");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"hi\",\"temperature\":3}"), 400,
                "temperature");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"hi\",\"max_tokens\":\"many\"}"),
                400, "max_tokens");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"hi\",\"top_p\":-0.1}"), 400,
                "top_p");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"hi\",\"top_p\":1.5}"), 400,
                "top_p");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":{\"a\":1}}"), 400, "prompt");
        assertError(post("/v1/completions", "{\"model\":\"stories15M\",\"prompt\":\"" + "word ".repeat(300) + "\"}"),
                400, "prompt");
        assertError(post("/v1/completions", "{\"model\":\"nope\",\"prompt\":\"hi\"}"), 404, "model");
        assertError(post("/v1/completions", "{not json"), 400, null);
    }

    @Test
    void openAiFieldsThatClientsSendAreCheckedAndUnknownOnesNamed() throws Exception {
        String base = "{\"model\":\"stories15M\",\"prompt\":\"hi\",%s}";
        HttpResponse<String> unknown = post("/v1/completions", base.formatted("\"max_tokns\":5"));
        assertError(unknown, 400, "max_tokns");
        assertThat(json.readTree(unknown.body()).get("error").get("message").asString())
                .isEqualTo("Unrecognized request argument supplied: max_tokns");
        assertError(post("/v1/completions", base.formatted("\"stream_options\":{\"include_usage\":true,\"x\":1}")),
                400, "stream_options.x");
        assertError(post("/v1/completions", base.formatted("\"interventions\":[{\"name\":\"a\",\"weight\":1}]")),
                400, "interventions[0].weight");
        assertError(post("/v1/completions", base.formatted("\"max_tokens\":0")), 400, "max_tokens");
        assertError(post("/v1/completions", base.formatted("\"max_completion_tokens\":0")), 400,
                "max_completion_tokens");
        assertError(post("/v1/completions", base.formatted("\"max_tokens\":3,\"max_completion_tokens\":4")), 400,
                "max_completion_tokens");
        assertError(post("/v1/completions", base.formatted("\"logprobs\":21")), 400, "logprobs");
        assertError(post("/v1/completions", base.formatted("\"logprobs\":-1")), 400, "logprobs");
        assertError(post("/v1/completions", base.formatted("\"presence_penalty\":2.5")), 400, "presence_penalty");
        assertError(post("/v1/completions", base.formatted("\"frequency_penalty\":-3")), 400, "frequency_penalty");
        assertError(post("/v1/completions", base.formatted("\"repetition_penalty\":0")), 400, "repetition_penalty");
        assertError(post("/v1/completions", base.formatted("\"logit_bias\":{\"abc\":1}")), 400, "logit_bias");
        assertError(post("/v1/completions", base.formatted("\"logit_bias\":{\"32000\":1}")), 400, "logit_bias");
        assertError(post("/v1/completions", base.formatted("\"logit_bias\":{\"5\":101}")), 400, "logit_bias");
        assertError(post("/v1/completions", base.formatted("\"best_of\":2")), 400, "best_of");
        assertError(post("/v1/completions", base.formatted("\"interventions\":[]")), 400, "interventions");
        assertError(post("/v1/completions", base.formatted("\"interventions\":[{\"name\":\"a\",\"scale\":11}]")),
                400, "interventions[0].scale");
        assertError(post("/v1/completions", base.formatted("\"intervention\":\"a\",\"interventions\":[{\"name\":\"a\"}]")),
                400, "interventions");
        assertError(post("/v1/completions", base.formatted("\"interventions\":[{\"name\":\"nope\"}]")), 404,
                "interventions[0].name");
        String ids = "{\"model\":\"stories15M\",\"prompt\":%s}";
        assertError(post("/v1/completions", ids.formatted("[1, 32000]")), 400, "prompt");
        assertError(post("/v1/completions", ids.formatted("[[1, 2], []]")), 400, "prompt[1]");
        assertError(post("/v1/completions", ids.formatted("[1.5]")), 400, "prompt[0]");
    }

    @Test
    void emptyTextPromptIsTheBosTokenAndTokenIdPromptsMatchTheirText() throws Exception {
        JsonNode empty = json.readTree(post("/v1/completions",
                "{\"model\":\"stories15M\",\"prompt\":\"\",\"max_completion_tokens\":5,\"temperature\":0}").body());
        assertThat(empty.get("usage").get("prompt_tokens").asInt()).isEqualTo(1);
        assertThat(empty.get("usage").get("completion_tokens").asInt()).isEqualTo(5);
        JsonNode text = json.readTree(post("/v1/completions",
                "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}").body());
        JsonNode ids = json.readTree(post("/v1/completions",
                "{\"model\":\"stories15M\",\"prompt\":[[1, 9038, 2501, 263, 931],[1]],\"max_tokens\":8,"
                        + "\"temperature\":0,\"echo\":true}").body());
        assertThat(ids.get("choices").get(0).get("text").asString())
                .isEqualTo("Once upon a time" + text.get("choices").get(0).get("text").asString());
        assertThat(ids.get("choices").get(1).get("text").asString())
                .isEqualTo(empty.get("choices").get(0).get("text").asString()
                        + ids.get("choices").get(1).get("text").asString().substring(
                                empty.get("choices").get(0).get("text").asString().length()));
        assertThat(ids.get("usage").get("prompt_tokens").asInt()).isEqualTo(6);
    }

    private void assertError(HttpResponse<String> r, int status, String param) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode err = json.readTree(r.body()).get("error");
        assertThat(err.get("message").asString()).isNotBlank();
        assertThat(err.get("type").asString()).isNotBlank();
        if (param != null) {
            assertThat(err.get("param").asString()).isEqualTo(param);
        }
    }

    @Test
    void topPZeroKeepsOnlyTheMostLikelyTokenSoSamplingGivesTheGreedyText() throws Exception {
        String greedy = "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,"
                + "\"temperature\":0}";
        String expected = json.readTree(post("/v1/completions", greedy).body()).get("choices").get(0).get("text")
                .asString();
        for (int seed : new int[] {1, 2, 3}) {
            String nucleus = "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,"
                    + "\"temperature\":1.5,\"top_p\":0,\"seed\":" + seed + "}";
            HttpResponse<String> r = post("/v1/completions", nucleus);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(json.readTree(r.body()).get("choices").get(0).get("text").asString()).as("seed %d", seed)
                    .isEqualTo(expected);
        }
    }

    @Test
    void seededSamplingRepeatsAndModelsListsTheBaseModel() throws Exception {
        String req = "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":20,"
                + "\"temperature\":0.9,\"top_p\":0.9,\"top_k\":40,\"seed\":7}";
        String a = json.readTree(post("/v1/completions", req).body()).get("choices").get(0).get("text").asString();
        String b = json.readTree(post("/v1/completions", req).body()).get("choices").get(0).get("text").asString();
        assertThat(a).isEqualTo(b).isNotBlank();
        HttpResponse<String> models = http.send(HttpRequest.newBuilder(
                URI.create("http://localhost:" + port + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(json.readTree(models.body()).get("data").get(0).get("id").asString()).isEqualTo("stories15M");
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One running server on the default model for the hostile-input tests: an admin key, small per-tenant quotas so
 * they can be reached over HTTP, and the test bundle validator (any zip is a bundle; the parsers have their own
 * hostile tests). Helpers send raw bytes with any content type, declared length or chunked, and check that a
 * refusal has the API's error shape.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + HostileInputTestSupport.ADMIN_KEY,
        "reft.registry.max-upload-bytes=64KB",
        "reft.quotas.interventions=2",
        "reft.quotas.tasks=2",
        "reft.quotas.routes-per-task=4",
        "reft.quotas.stored-bytes=48KB"})
@Import(RegistryTestBeans.class)
abstract class HostileInputTestSupport {

    static final String ADMIN_KEY = "hostile-admin-key";
    static final String BASE_MODEL = "stories15M";

    private static final Path STORE = ServingTestSupport.storeDir("hostile");

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    Http http() {
        return new Http(port);
    }

    /** Creates a tenant through the admin API; returns its key. */
    String newTenant(String prefix) {
        String name = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
        HttpResponse<String> r = http().post("/admin/tenants", ADMIN_KEY, "{\"name\":\"" + name + "\"}");
        if (r.statusCode() != 201) {
            throw new IllegalStateException("cannot create tenant " + name + ": " + r.body());
        }
        return json.readTree(r.body()).get("api_key").asString();
    }

    /**
     * Sends {@code body} as is.
     *
     * @param contentType the Content-Type header, or {@code null} for none
     * @param chunked     stream the body without a Content-Length
     */
    HttpResponse<String> send(String method, String path, String key, String contentType, byte[] body,
            boolean chunked) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .timeout(Duration.ofMinutes(1));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        HttpRequest.BodyPublisher publisher = chunked
                ? HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))
                : HttpRequest.BodyPublishers.ofByteArray(body);
        try {
            return client.send(b.method(method, publisher).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            // The server may close a connection it refused early (an oversized body): that is a refusal too,
            // but only where the test allows it.
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    HttpResponse<String> postJson(String key, String body) {
        return send("POST", "/v1/completions", key, "application/json", body.getBytes(
                java.nio.charset.StandardCharsets.UTF_8), false);
    }

    /** Asserts the OpenAI error shape and returns its {@code error} object. */
    JsonNode assertErrorShape(HttpResponse<String> r) {
        assertThat(r.headers().firstValue("Content-Type")).as("content type of %s", r.body())
                .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
        JsonNode error = json.readTree(r.body()).get("error");
        assertThat(error).as("error object in %s", r.body()).isNotNull();
        assertThat(error.get("message").isString()).as("message in %s", r.body()).isTrue();
        assertThat(error.get("message").asString()).isNotBlank();
        assertThat(error.get("type").isString()).as("type in %s", r.body()).isTrue();
        return error;
    }

    /** A normal greedy completion works and the server is ready. */
    void assertStillServing(String key) {
        HttpResponse<String> r = postJson(key, "{\"model\":\"" + BASE_MODEL
                + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(json.readTree(r.body()).get("choices").get(0).get("text").asString()).isNotEmpty();
        assertThat(http().get("/readyz", null).statusCode()).isEqualTo(200);
    }
}

package dev.reftserver.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The whole server on the default model with its real bundle importer (no test beans), for the end-to-end serving
 * tests over real HTTP. Each test makes its own tenants. A subclass gives its application context a store
 * directory of its own (the embedded store locks it): {@link ServingTestSupport}, {@link ChatServingTestSupport}.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "reft.security.admin-key=" + ServingTestBase.ADMIN_KEY)
abstract class ServingTestBase {

    static final String ADMIN_KEY = "serving-admin-key";
    static final String BASE_MODEL = "stories15M";

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** A fresh directory under target/test-stores. */
    static Path storeDir(String prefix) {
        try {
            Path parent = Files.createDirectories(Path.of("target", "test-stores"));
            return Files.createTempDirectory(parent, prefix + "-").toAbsolutePath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    Http http() {
        return new Http(port);
    }

    /** Creates a tenant through the admin API; returns its key. */
    String newTenant(String prefix) {
        String name = unique(prefix);
        HttpResponse<String> r = http().post("/admin/tenants", ADMIN_KEY, "{\"name\":\"" + name + "\"}");
        if (r.statusCode() != 201) {
            throw new IllegalStateException("cannot create tenant " + name + ": " + r.body());
        }
        return json(r).get("api_key").asString();
    }

    /** The JSON body of a completion request. */
    String completionBody(String model, String prompt, int maxTokens, boolean stream) {
        ObjectNode body = json.createObjectNode();
        body.put("model", model);
        body.put("prompt", prompt);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        if (stream) {
            body.put("stream", true);
        }
        return json.writeValueAsString(body);
    }

    HttpRequest completionRequest(String key, String model, String prompt, int maxTokens, Duration timeout) {
        return HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/completions"))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .timeout(timeout)
                .POST(HttpRequest.BodyPublishers.ofString(completionBody(model, prompt, maxTokens, false)))
                .build();
    }

    /** A greedy completion; fails on transport errors, returns whatever status the server gave. */
    HttpResponse<String> complete(String key, String model, String prompt, int maxTokens) {
        try {
            return client.send(completionRequest(key, model, prompt, maxTokens, Duration.ofMinutes(2)),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    JsonNode json(HttpResponse<String> r) {
        return json.readTree(r.body());
    }

    /** The text of the first choice of a 200 completion response. */
    String text(HttpResponse<String> r) {
        if (r.statusCode() != 200) {
            throw new AssertionError("completion answered " + r.statusCode() + ": " + r.body());
        }
        return json(r).get("choices").get(0).get("text").asString();
    }
}

package dev.reftserver.console;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The public HTTP API, called directly: what the browser tests compare the console's pages against. */
final class ConsoleApi {

    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final JsonMapper json = JsonMapper.builder().build();
    private final String base;

    ConsoleApi(int port) {
        this.base = "http://localhost:" + port;
    }

    record Answer(int status, JsonNode body, HttpResponse<String> raw) {

        String header(String name) {
            return raw.headers().firstValue(name).orElse(null);
        }
    }

    Answer get(String path, String key) {
        return send(request(path, key).GET());
    }

    Answer delete(String path, String key) {
        return send(request(path, key).DELETE());
    }

    Answer post(String path, String key, String body) {
        return send(request(path, key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    Answer put(String path, String key, String body) {
        return send(request(path, key).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)));
    }

    /** Creates a tenant with the admin key; returns its key. */
    String newTenant(String adminKey, String name) {
        Answer a = post("/admin/tenants", adminKey, "{\"name\":\"" + name + "\"}");
        if (a.status() != 201) {
            throw new IllegalStateException("cannot create tenant " + name + ": " + a.raw().body());
        }
        return a.body().get("api_key").asString();
    }

    /** A greedy, non-streamed completion. */
    Answer greedy(String key, String model, String prompt, int maxTokens) {
        return post("/v1/completions", key, json.writeValueAsString(Map.of("model", model, "prompt", prompt,
                "max_tokens", maxTokens, "temperature", 0)));
    }

    /** A greedy, non-streamed chat completion of one system and one user message. */
    Answer greedyChat(String key, String model, String system, String user, int maxTokens) {
        return post("/v1/chat/completions", key, json.writeValueAsString(Map.of("model", model, "messages",
                java.util.List.of(Map.of("role", "system", "content", system), Map.of("role", "user", "content",
                        user)), "max_tokens", maxTokens, "temperature", 0)));
    }

    /** POST /v1/files: {@code jsonl} as the fine-tuning file {@code fileName}. */
    Answer uploadTrainingFile(String key, String fileName, String jsonl) {
        return multipart("/v1/files", key, Map.of("purpose", "fine-tune"), "file", fileName, "application/jsonl",
                jsonl.getBytes(StandardCharsets.UTF_8));
    }

    /** POST /v1/interventions as multipart/form-data: the zip as {@code bundle}, then text fields. */
    Answer upload(String key, String fileName, byte[] zip, Map<String, String> fields) {
        return multipart("/v1/interventions", key, fields, "bundle", fileName, "application/zip", zip);
    }

    private Answer multipart(String path, String key, Map<String, String> fields, String part, String fileName,
            String type, byte[] content) {
        String boundary = "b" + UUID.randomUUID().toString().replace("-", "");
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Map.Entry<String, String> f : fields.entrySet()) {
            write(body, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.getKey() + "\"\r\n\r\n"
                    + f.getValue() + "\r\n");
        }
        write(body, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + part + "\"; filename=\""
                + fileName + "\"\r\nContent-Type: " + type + "\r\n\r\n");
        body.writeBytes(content);
        write(body, "\r\n--" + boundary + "--\r\n");
        return send(request(path, key)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
    }

    private static void write(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
    }

    private HttpRequest.Builder request(String path, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(2));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return b;
    }

    private Answer send(HttpRequest.Builder b) {
        try {
            HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
            String text = r.body();
            JsonNode node = text == null || text.isBlank() || !text.trim().startsWith("{") ? null : json.readTree(text);
            return new Answer(r.statusCode(), node, r);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}

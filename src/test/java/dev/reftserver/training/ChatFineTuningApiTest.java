package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.tokenizer.TextTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Fine-tuning from OpenAI chat-format files over HTTP, on stories15M with the Zephyr chat template of the
 * reference's chat setup: a chat file trains a job whose every token is the rendered conversation's and the
 * assistant's reply; bad chat lines are 400s naming the line.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + ChatFineTuningApiTest.ADMIN_KEY,
        "reft.model.chat-template=src/test/resources/reference/chat/HuggingFaceH4-zephyr-7b-beta.jinja"})
class ChatFineTuningApiTest {

    static final String ADMIN_KEY = "chat-training-admin-key";
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final List<List<Map<String, String>>> CONVERSATIONS = List.of(
            List.of(Map.of("role", "system", "content", "You are a storyteller for children."),
                    Map.of("role", "user", "content", "Tell me about a whale.")),
            List.of(Map.of("role", "user", "content", "Hi!"),
                    Map.of("role", "assistant", "content", "Hello! What story do you want?"),
                    Map.of("role", "user", "content", "A story about a big red ball.")));
    static final String REPLY = "A purple whale sang a happy song.";

    @DynamicPropertySource
    static void storeDir(DynamicPropertyRegistry registry) throws IOException {
        Path dir = Files.createTempDirectory("reft-chat-training-api");
        registry.add("reft.store.path", dir::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    ChatPrompts prompts;

    @Autowired
    TextTokenizer tokenizer;

    final HttpClient client = HttpClient.newHttpClient();

    static String chatFile() {
        StringBuilder file = new StringBuilder();
        for (List<Map<String, String>> c : CONVERSATIONS) {
            List<Map<String, String>> messages = new ArrayList<>(c);
            messages.add(Map.of("role", "assistant", "content", REPLY));
            file.append(JSON.writeValueAsString(Map.of("messages", messages))).append('\n');
        }
        return file.toString();
    }

    @Test
    void aTwoLineChatFileTrainsATwoStepJobOnTheRenderedConversations() throws Exception {
        String key = newTenant();
        HttpResponse<String> file = uploadFile(key, chatFile().getBytes(StandardCharsets.UTF_8));
        assertThat(file.statusCode()).as(file.body()).isEqualTo(200);
        assertThat(json(file).get("examples").asInt()).isEqualTo(2);
        HttpResponse<String> created = post(key, "/v1/fine_tuning/jobs", """
                {"model": "stories15M", "training_file": "%s", "suffix": "chatwhale", "seed": 7,
                 "method": {"type": "reft", "reft": {"hyperparameters": {
                   "layers": [2], "rank": 2, "n_epochs": 2, "batch_size": 2}}}}"""
                .formatted(json(file).get("id").asString()));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
        JsonNode done = await(key, json(created).get("id").asString());
        assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("succeeded");
        assertThat(done.get("fine_tuned_model").asString()).isEqualTo("chatwhale@1");

        // Each step trains on both lines: the rendered conversation's ids, the reply's, EOS.
        long tokens = 0;
        for (List<Map<String, String>> c : CONVERSATIONS) {
            ChatPrompts.Prompt p = prompts.render(c, true);
            tokens += tokenizer.encodeRendered(p.text() + REPLY).length + 1;
        }
        assertThat(done.get("trained_tokens").asLong()).isEqualTo(2 * tokens);
        JsonNode events = json(get(key, "/v1/fine_tuning/jobs/" + done.get("id").asString() + "/events"))
                .get("data");
        List<Integer> reported = new ArrayList<>();
        events.forEach(e -> {
            if (e.get("type").asString().equals("metrics")) {
                reported.add(e.get("data").get("step").asInt());
            }
        });
        assertThat(reported).containsExactlyInAnyOrder(1, 2);

        HttpResponse<String> chat = post(key, "/v1/chat/completions", """
                {"model": "chatwhale@1", "messages": [{"role": "user", "content": "Tell me about a whale."}],
                 "max_tokens": 4, "temperature": 0}""");
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        assertThat(chat.headers().firstValue("X-Reft-Intervention")).contains("chatwhale@1");
    }

    @Test
    void badChatLinesAreRefusedNamingTheLine() {
        String key = newTenant();
        String good = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                + " \"content\": \"Hello\"}]}\n";
        for (String bad : List.of("{\"messages\": []}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}",
                "{\"messages\": [{\"role\": \"assistant\", \"content\": \"Hi\"}, {\"role\": \"user\","
                        + " \"content\": \"Hello\"}]}",
                "{\"messages\": [{\"role\": \"tool\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                        + " \"content\": \"Hello\"}]}",
                "{\"messages\": [{\"role\": \"user\", \"content\": 7}, {\"role\": \"assistant\","
                        + " \"content\": \"Hello\"}]}")) {
            HttpResponse<String> r = uploadFile(key, (good + bad + "\n").getBytes(StandardCharsets.UTF_8));
            assertThat(r.statusCode()).as(bad + " -> " + r.body()).isEqualTo(400);
            JsonNode error = json(r).get("error");
            assertThat(error.get("type").asString()).isEqualTo("invalid_request_error");
            assertThat(error.get("param").asString()).isEqualTo("file");
            assertThat(error.get("message").asString()).as(bad).startsWith("line 2 ");
        }
        assertThat(json(get(key, "/v1/files")).get("data").size()).isZero();
    }

    JsonNode await(String key, String id) throws InterruptedException {
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (true) {
            JsonNode job = json(get(key, "/v1/fine_tuning/jobs/" + id));
            String status = job.get("status").asString();
            if (List.of("succeeded", "failed", "cancelled").contains(status)) {
                return job;
            }
            assertThat(System.nanoTime()).as("job %s still %s", id, status).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    String newTenant() {
        HttpResponse<String> r = send(request(ADMIN_KEY, "/admin/tenants").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"t-" + UUID.randomUUID().toString()
                        .substring(0, 8) + "\"}")));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json(r).get("api_key").asString();
    }

    HttpResponse<String> uploadFile(String key, byte[] content) {
        String boundary = "b" + UUID.randomUUID().toString().replace("-", "");
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chat.jsonl\"\r\n"
                + "Content-Type: application/octet-stream\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(content);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return send(request(key, "/v1/files").header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
    }

    HttpResponse<String> get(String key, String path) {
        return send(request(key, path).GET());
    }

    HttpResponse<String> post(String key, String path, String json) {
        return send(request(key, path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    HttpRequest.Builder request(String key, String path) {
        return HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .header("Authorization", "Bearer " + key);
    }

    HttpResponse<String> send(HttpRequest.Builder b) {
        try {
            return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(HttpResponse<String> r) {
        return JSON.readTree(r.body());
    }
}

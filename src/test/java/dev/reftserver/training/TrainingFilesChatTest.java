package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.chat.ChatTemplate;
import dev.reftserver.error.ServiceException;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.registry.EmbeddedStore;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.util.unit.DataSize;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Chat lines in fine-tuning files, on stories15M with the Zephyr template of the reference's chat setup: the
 * example's prompt is exactly what the chat template renders (transformers' ids), its completion the assistant's
 * message; a bad chat line, or a model that cannot render it, is a 400 naming the line.
 */
class TrainingFilesChatTest {

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String TENANT = "acme";
    static final Path ZEPHYR = Path.of("src/test/resources/reference/chat/HuggingFaceH4-zephyr-7b-beta.jinja");
    static final TrainingProperties PROPS = new TrainingProperties(DataSize.ofMegabytes(1), 100, 10, 10000, 4, 64,
            1.0, "0.25", Duration.ofSeconds(60));

    static TextTokenizer tokenizer;
    static ChatPrompts zephyr;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() throws IOException {
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
        zephyr = new ChatPrompts(new ChatTemplate(Files.readString(ZEPHYR)), tokenizer);
    }

    static JsonNode reference() {
        return JSON.readTree(ReferenceFiles.resource("reference/chat/stories15m-chat/reference.json").toFile());
    }

    static TrainingFiles files(EmbeddedStore store, ChatPrompts prompts) {
        return new TrainingFiles(store, PROPS, prompts, tokenizer, "stories15M");
    }

    /** A chat line: the conversation, then the assistant's reply. */
    static String chatLine(JsonNode messages, String reply) {
        ObjectNode line = JSON.createObjectNode();
        var all = line.putArray("messages");
        messages.forEach(all::add);
        all.addObject().put("role", "assistant").put("content", reply);
        return JSON.writeValueAsString(line);
    }

    @Test
    void aChatLinesPromptIsTheRenderedConversationAndItsCompletionTheAssistantsMessage() {
        JsonNode conversations = reference().get("conversations");
        StringBuilder file = new StringBuilder();
        for (JsonNode c : conversations) {
            file.append(chatLine(c.get("messages"), c.get("greedy").get("content").asString())).append('\n');
        }
        try (EmbeddedStore store = new EmbeddedStore(tmp)) {
            TrainingFiles files = files(store, zephyr);
            TrainingFile uploaded = files.upload(TENANT, "chat.jsonl", "fine-tune",
                    file.toString().getBytes(StandardCharsets.UTF_8));
            List<TrainingExample> examples = files.tokenize(uploaded);
            assertThat(examples).hasSize(conversations.size());
            for (int i = 0; i < examples.size(); i++) {
                JsonNode c = conversations.get(i);
                String reply = c.get("greedy").get("content").asString();
                ChatPrompts.Prompt rendered = zephyr.render(
                        (List<?>) JSON.convertValue(c.get("messages"), Object.class), true);
                int[] referenceIds = JSON.convertValue(c.get("prompt_ids"), int[].class);
                assertThat(rendered.ids()).as("ChatPrompts gives transformers' ids").isEqualTo(referenceIds);

                TrainingExample ex = examples.get(i);
                int[] ids = ex.inputIds();
                int promptLength = referenceIds.length;
                assertThat(ex.promptLength()).isEqualTo(promptLength);
                // The rendered ids are final: no BOS before them (Zephyr writes none).
                assertThat(Arrays.copyOf(ids, promptLength)).isEqualTo(referenceIds);
                assertThat(ids[0]).isNotEqualTo(tokenizer.bosId());
                // The completion as the plain format tokenizes it: the prompt's text continued, then EOS.
                int[] continued = tokenizer.encodeRendered(rendered.text() + reply);
                int[] completion = Arrays.copyOfRange(ids, promptLength, ids.length - 1);
                assertThat(completion).isNotEmpty()
                        .isEqualTo(Arrays.copyOfRange(continued, promptLength, continued.length));
                assertThat(tokenizer.decode(completion)).isEqualTo(reply);
                assertThat(ids[ids.length - 1]).isEqualTo(tokenizer.eosId());
                // The loss is on the completion and EOS only.
                int[] labels = ex.labels();
                assertThat(IntStream.range(0, promptLength).map(t -> labels[t]).distinct().toArray())
                        .containsExactly(TrainingExample.IGNORE);
                assertThat(ex.labelTokens()).isEqualTo(completion.length + 1);
            }
        }
    }

    @Test
    void chatAndPlainLinesMixInOneFileInFileOrder() {
        String file = "{\"prompt\": \"Once upon a time\", \"completion\": \" there was a cat.\"}\n\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi!\"}, {\"role\": \"assistant\","
                + " \"content\": \"Hello.\"}]}\n";
        try (EmbeddedStore store = new EmbeddedStore(tmp)) {
            TrainingFiles files = files(store, zephyr);
            TrainingFile uploaded = files.upload(TENANT, "mixed.jsonl", "fine-tune",
                    file.getBytes(StandardCharsets.UTF_8));
            assertThat(uploaded.examples()).containsExactly(
                    new TrainingFile.Completion(1, "Once upon a time", " there was a cat."),
                    new TrainingFile.Chat(3, List.of(Map.of("role", "user", "content", "Hi!")), "Hello."));
            List<TrainingExample> examples = files.tokenize(uploaded);
            assertThat(examples.get(0).inputIds()).isEqualTo(
                    TrainingExample.of(tokenizer, "Once upon a time", " there was a cat.").inputIds());
            assertThat(examples.get(1).promptLength()).isEqualTo(
                    zephyr.render(List.of(Map.of("role", "user", "content", "Hi!")), true).ids().length);
        }
    }

    @Test
    void badChatLinesAreRefusedNamingTheLine() {
        String good = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                + " \"content\": \"Hello\"}]}\n";
        List<String[]> bad = List.of(
                new String[] {"{\"messages\": []}", "needs \"messages\""},
                new String[] {"{\"messages\": \"Hi\"}", "needs \"messages\""},
                new String[] {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"Hello\"}]}",
                        "needs \"messages\""},
                new String[] {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"Hi\"}, {\"role\": \"user\","
                        + " \"content\": \"Hello\"}]}", "must end with an assistant message"},
                new String[] {"{\"messages\": [{\"role\": \"tool\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                        + " \"content\": \"Hello\"}]}", "messages[0].role must be system, user or assistant"},
                new String[] {"{\"messages\": [{\"content\": \"Hi\"}, {\"role\": \"assistant\","
                        + " \"content\": \"Hello\"}]}", "messages[0].role"},
                new String[] {"{\"messages\": [{\"role\": \"user\", \"content\": 7}, {\"role\": \"assistant\","
                        + " \"content\": \"Hello\"}]}", "messages[0].content must be a string"},
                new String[] {"{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                        + " \"content\": [{\"type\": \"text\", \"text\": \"Hello\"}]}]}",
                        "messages[1].content must be a string"},
                new String[] {"{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                        + " \"content\": \"\"}]}", "empty assistant message"},
                new String[] {"{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                        + " \"content\": \"Hello\", \"weight\": 0}]}", "messages[1].weight is not supported"},
                new String[] {"{\"messages\": [\"Hi\", {\"role\": \"assistant\", \"content\": \"Hello\"}]}",
                        "messages[0] is not a JSON object"},
                new String[] {"{\"prompt\": \"Hi\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"},"
                        + " {\"role\": \"assistant\", \"content\": \"Hello\"}]}", "give one or the other"});
        try (EmbeddedStore store = new EmbeddedStore(tmp)) {
            TrainingFiles files = files(store, zephyr);
            for (String[] b : bad) {
                byte[] content = (good + b[0] + "\n").getBytes(StandardCharsets.UTF_8);
                assertThatThrownBy(() -> files.upload(TENANT, "bad.jsonl", "fine-tune", content)).as(b[0])
                        .isInstanceOfSatisfying(ServiceException.class, e -> {
                            assertThat(e.status().value()).isEqualTo(400);
                            assertThat(e.param()).isEqualTo("file");
                            assertThat(e.getMessage()).startsWith("line 2 ").contains(b[1]);
                        });
            }
            assertThat(files.list(TENANT)).isEmpty();
        }
    }

    @Test
    void aModelWithoutAChatTemplateRefusesChatLinesAtUploadAndAtJobStart() {
        byte[] chat = ("{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"messages\": [{\"role\": \"user\", \"content\":"
                + " \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n").getBytes(StandardCharsets.UTF_8);
        try (EmbeddedStore store = new EmbeddedStore(tmp)) {
            TrainingFiles without = files(store, new ChatPrompts(null, tokenizer));
            assertThatThrownBy(() -> without.upload(TENANT, "chat.jsonl", "fine-tune", chat))
                    .isInstanceOfSatisfying(ServiceException.class, e -> {
                        assertThat(e.status().value()).isEqualTo(400);
                        assertThat(e.code()).isEqualTo("no_chat_template");
                        assertThat(e.param()).isEqualTo("file");
                        assertThat(e.getMessage()).startsWith("line 2 ").contains("stories15M has no chat template");
                    });
            assertThat(without.list(TENANT)).isEmpty();

            // Stored while the server had a template; the server now has none: the file is still listed, a job
            // from it is refused naming the line.
            String id = files(store, zephyr).upload(TENANT, "chat.jsonl", "fine-tune", chat).id();
            TrainingFiles restarted = files(store, new ChatPrompts(null, tokenizer));
            TrainingFile stored = restarted.get(TENANT, id).orElseThrow();
            assertThat(stored.examples()).hasSize(2);
            assertThatThrownBy(() -> restarted.tokenize(stored))
                    .isInstanceOfSatisfying(ServiceException.class, e -> {
                        assertThat(e.status().value()).isEqualTo(400);
                        assertThat(e.code()).isEqualTo("no_chat_template");
                        assertThat(e.param()).isEqualTo("training_file");
                        assertThat(e.getMessage()).contains("training file '" + id + "' line 2 ");
                    });
        }
    }

    @Test
    void aConversationTheTemplateRejectsIsRefusedNamingTheLine() {
        ChatPrompts strict = new ChatPrompts(new ChatTemplate("{% for m in messages %}"
                + "{% if m['role'] == 'system' %}{{ raise_exception('System messages are not supported') }}{% endif %}"
                + "{{ m['content'] }}{% endfor %}"), tokenizer);
        byte[] content = ("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\","
                + " \"content\": \"Hello\"}]}\n{\"messages\": [{\"role\": \"system\", \"content\": \"Be kind\"},"
                + " {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n").getBytes(StandardCharsets.UTF_8);
        try (EmbeddedStore store = new EmbeddedStore(tmp)) {
            assertThatThrownBy(() -> files(store, strict).upload(TENANT, "chat.jsonl", "fine-tune", content))
                    .isInstanceOfSatisfying(ServiceException.class, e -> {
                        assertThat(e.status().value()).isEqualTo(400);
                        assertThat(e.code()).isEqualTo("chat_template_rejected");
                        assertThat(e.getMessage()).startsWith("line 2: ")
                                .contains("System messages are not supported");
                    });
        }
    }
}

package dev.reftserver.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.reftserver.tokenizer.HfTokenizer;
import dev.reftserver.tokenizer.Llama2cTokenizer;
import dev.reftserver.tokenizer.TextTokenizer;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * stories15M with the Zephyr chat template: every reference conversation renders to transformers' text and
 * tokenizes to its {@code apply_chat_template(tokenize=True)} ids (no BOS the template does not write, {@code </s>}
 * as the EOS token), with the Hugging Face tokenizer and with llama2.c's.
 */
class ChatPromptsTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    static Path resource(String name) {
        try {
            return Path.of(ChatPromptsTest.class.getResource(name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static TextTokenizer llama2c() {
        return Llama2cTokenizer.load(Path.of("models", "stories15M", "tokenizer.bin"), 32000);
    }

    private static void rendersAndTokenizesAsTransformers(TextTokenizer tokenizer) throws IOException {
        JsonNode ref = JSON.readTree(resource("/reference/chat/stories15m-chat/reference.json").toFile());
        String template = ChatTemplates.find(resource("/reference/chat/stories15m-chat"), null).orElseThrow();
        ChatPrompts prompts = new ChatPrompts(new ChatTemplate(template), tokenizer);
        for (JsonNode c : ref.get("conversations")) {
            ChatPrompts.Prompt p = prompts.render((List<?>) JSON.convertValue(c.get("messages"), Object.class),
                    c.get("add_generation_prompt").asBoolean());
            assertEquals(c.get("rendered_prompt").asString(), p.text());
            assertArrayEquals(JSON.convertValue(c.get("prompt_ids"), int[].class), p.ids(), c.get("name").asString());
            assertEquals(c.get("prompt_tokens").asInt(), p.ids().length);
        }
    }

    @Test
    void huggingFaceTokenizerGivesTheReferenceIds() throws IOException {
        try (HfTokenizer hf = HfTokenizer.load(resource("/reference/stories15m-hf"))) {
            rendersAndTokenizesAsTransformers(hf);
        }
    }

    @Test
    void llama2cTokenizerGivesTheReferenceIds() throws IOException {
        rendersAndTokenizesAsTransformers(llama2c());
    }

    @Test
    void templatesSeeTheSpecialTokenTextsTheTokenizerConfigNames() {
        assertEquals(java.util.Map.of("bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>"),
                ChatTemplates.specialTokenTexts(resource("/reference/chat/stories15m-chat")));
        ChatPrompts prompts = new ChatPrompts(new ChatTemplate("{{ bos_token }}|{{ eos_token }}"), llama2c(),
                java.util.Map.of("eos_token", "<|eot|>"));
        assertEquals("<s>|<|eot|>", prompts.render(List.of(), false).text());
    }

    @Test
    void aTemplateThatWritesBosGetsExactlyOne() {
        ChatPrompts prompts = new ChatPrompts(new ChatTemplate(
                "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"), llama2c());
        int[] ids = prompts.render(List.of(java.util.Map.of("role", "user", "content", "Hi")), true).ids();
        assertEquals(1, ids[0]);
        assertTrue(ids[1] != 1, "one BOS, not two");
    }

    @Test
    void promptTemplateGetsOneBosWhetherOrNotItWritesOne() {
        ChatPrompts prompts = new ChatPrompts(null, llama2c());
        int[] plain = prompts.fill("Story: %s\nAnswer:", "a cat").ids();
        int[] withBos = prompts.fill("<s>Story: %s\nAnswer:", "a cat").ids();
        assertArrayEquals(llama2c().encode("Story: a cat\nAnswer:"), plain);
        assertArrayEquals(plain, withBos);
    }

    /** The order transformers 5.18's AutoTokenizer takes (checked there): chat_template.jinja over the config's. */
    @Test
    void templateComesFromTheOverrideChatTemplateJinjaOrTheTokenizerConfig(@TempDir Path dir) throws IOException {
        assertEquals(Optional.empty(), ChatTemplates.find(dir, null));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"t\"},"
                        + " {\"name\": \"default\", \"template\": \"from config\"}]}");
        assertEquals(Optional.of("from config"), ChatTemplates.find(dir, null));
        Files.writeString(dir.resolve("chat_template.jinja"), "from jinja");
        assertEquals(Optional.of("from jinja"), ChatTemplates.find(dir, null));
        Path override = Files.writeString(dir.resolve("override.jinja"), "override");
        assertEquals(Optional.of("override"), ChatTemplates.find(dir, override.toString()));
        assertEquals(Optional.empty(), ChatTemplates.find(dir.resolve("model.bin"), null));
    }
}

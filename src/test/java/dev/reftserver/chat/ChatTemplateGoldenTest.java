package dev.reftserver.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every golden of the chat-template reference: ten real templates rendered by transformers on the same
 * conversations. Each renders byte for byte as transformers does, or fails with the template's own
 * {@code raise_exception} message where transformers raised.
 */
class ChatTemplateGoldenTest {

    static final List<String> TEMPLATES = List.of(
            "meta-llama-Llama-3.1-8B-Instruct",
            "meta-llama-Llama-3.2-3B-Instruct",
            "Qwen-Qwen2.5-7B-Instruct",
            "google-gemma-2-2b-it",
            "mistralai-Mistral-Nemo-Instruct-2407",
            "microsoft-Phi-3.5-mini-instruct",
            "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
            "HuggingFaceH4-zephyr-7b-beta",
            "CohereForAI-c4ai-command-r7b-12-2024-tool_use",
            "ibm-granite-granite-3.3-2B-Instruct");

    /** The clock the goldens were rendered under (strftime_now). */
    static final Clock GOLDEN_CLOCK = Clock.fixed(
            LocalDateTime.of(2025, 3, 5, 12, 0).toInstant(ZoneOffset.UTC), ZoneOffset.UTC);

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Map<String, ChatTemplate> COMPILED = new HashMap<>();

    static Stream<Arguments> cases() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (String name : TEMPLATES) {
            JsonNode golden = JSON.readTree(resource(name + ".json"));
            for (JsonNode c : golden.get("cases")) {
                out.add(Arguments.of(name, c.get("name").asString(), golden, c));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void rendersAsTransformersDoes(String template, String caseName, JsonNode golden, JsonNode c) throws IOException {
        ChatTemplate t = COMPILED.computeIfAbsent(template, n -> {
            try {
                return new ChatTemplate(resource(n + ".jinja"), GOLDEN_CLOCK);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Map<String, Object> vars = new HashMap<>();
        vars.put("add_generation_prompt", c.get("add_generation_prompt").asBoolean());
        vars.put("bos_token", plain(golden.get("bos_token")));
        vars.put("eos_token", plain(golden.get("eos_token")));
        vars.put("tools", plain(c.get("tools")));
        vars.put("documents", null);
        List<?> messages = (List<?>) plain(c.get("messages"));
        if (c.has("expected_error")) {
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(messages, vars));
            assertEquals(c.get("expected_error").asString(), e.getMessage());
            assertTrue(e.raisedByTemplate());
        } else {
            assertEquals(c.get("expected_text").asString(), t.render(messages, vars));
        }
    }

    static Object plain(JsonNode node) {
        return node == null || node.isNull() ? null : JSON.convertValue(node, Object.class);
    }

    static String resource(String name) throws IOException {
        try (InputStream in = ChatTemplateGoldenTest.class.getResourceAsStream("/reference/chat/" + name)) {
            if (in == null) {
                throw new IOException("missing test resource reference/chat/" + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}

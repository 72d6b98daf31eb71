package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Hostile chat requests over HTTP, on the chat serving server (Zephyr's template): template syntax in a message is
 * text (never run: a loop of a billion iterations in a message costs nothing), and seeded mutations of a valid chat
 * body, {@code chat_template_kwargs} included, and of a valid Responses body get a 2xx or a 4xx in the API's error
 * shape, never a 5xx.
 */
class ChatHostileInputTest extends ChatServingTestSupport {

    private static final long SEED = 20261207L;
    private static final int TRIES = 80;

    private static final String[] FIELDS = {"model", "messages", "max_tokens", "max_completion_tokens",
        "temperature", "top_p", "stop", "n", "stream", "seed", "chat_template_kwargs", "logprobs", "tools",
        "unknown_field"};

    /** Raw JSON values, valid and hostile, that a field may be set to. */
    private static final String[] VALUES = {"null", "true", "0", "1", "-1", "2147483648", "1e309", "0.5", "NaN",
        "\"\"", "\"stories15M\"", "\"\\u0000\"", "\"\\ud800\"", "[]", "[null]", "[1,2]", "{}", "{\"a\":{\"b\":{}}}",
        "[{\"role\":\"user\",\"content\":\"{{ 7*7 }}\"}]", "[{\"role\":\"user\",\"content\":[]}]",
        "[{\"role\":\"tool\",\"content\":\"x\"}]", "[{\"role\":\"user\",\"content\":{\"a\":1}}]",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"{% raw %}\"}]}]",
        "{\"enable_thinking\":false}", "{\"messages\":[]}", "{\"bos_token\":\"x\"}", "{\"x\":[1,{\"y\":null}]}",
        "{\"add_generation_prompt\":false}", "\"{% for i in range(999999999) %}x{% endfor %}\""};

    private static final String[] RESPONSES_FIELDS = {"model", "input", "instructions", "max_output_tokens",
        "temperature", "top_p", "stream", "include", "top_logprobs", "text", "metadata", "tools", "tool_choice",
        "store", "truncation", "stream_options", "chat_template_kwargs", "previous_response_id", "unknown_field"};

    /** Values for Responses fields, beside {@link #VALUES}. */
    private static final String[] RESPONSES_VALUES = {
        "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"x\"}]}]",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"x\"}]}]",
        "[{\"type\":\"function_call\",\"name\":\"f\"}]", "[\"message.output_text.logprobs\"]", "[7]",
        "{\"format\":{\"type\":\"text\"}}", "{\"format\":7}", "{\"include_obfuscation\":false}",
        "\"disabled\"", "\"auto\"", "{\"k\":\"v\"}", "20"};

    /** Contents that would do something if a template ran them. */
    private static final String[] TEMPLATE_TEXT = {"{{ 7*7 }}", "{% for i in range(999999999) %}x{% endfor %}",
        "{% raw %}", "{{ messages }}", "}}{{", "{# unclosed", "{%- set x = 1 -%}", "{{ ''.__class__ }}",
        "{% include 'x' %}", "{{ raise_exception('boom') }}"};

    private HttpResponse<String> chat(String key, String body) {
        return http().post("/v1/chat/completions", key, body);
    }

    /** Whether a refusal has the API's error shape: {@code {"error": {"message": ..., "type": ...}}}. */
    private boolean errorShaped(HttpResponse<String> r) {
        try {
            JsonNode error = json.readTree(r.body()).get("error");
            return r.headers().firstValue("Content-Type").orElse("").startsWith("application/json") && error != null
                    && error.path("message").isString() && !error.path("message").asString().isBlank()
                    && error.path("type").isString();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** A plain chat still completes. */
    private void assertStillServing(String key) {
        HttpResponse<String> r = chat(key, body("Tell me a story."));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }

    private String body(String content) {
        ObjectNode b = json.createObjectNode();
        b.put("model", BASE_MODEL);
        b.putArray("messages").addObject().put("role", "user").put("content", content);
        b.put("max_tokens", 1);
        b.put("temperature", 0);
        return json.writeValueAsString(b);
    }

    @Test
    void templateSyntaxInAMessageIsText() {
        String key = newTenant("chat-text");
        for (String content : TEMPLATE_TEXT) {
            HttpResponse<String> r = chat(key, body(content));
            assertThat(r.statusCode()).as("%s: %s", content, r.body()).isEqualTo(200);
        }
        // run, "{{ 7*7 }}" would render as "49": the same prompt
        int asWritten = json.readTree(chat(key, body("{{ 7*7 }}")).body()).get("usage").get("prompt_tokens").asInt();
        int rendered = json.readTree(chat(key, body("49")).body()).get("usage").get("prompt_tokens").asInt();
        assertThat(asWritten).isGreaterThan(rendered);
        assertStillServing(key);
    }

    @Test
    void mutatedChatBodiesNeverGetA5xx() {
        Random random = new Random(SEED);
        fuzz("/v1/chat/completions", "chat-fuzz", () -> mutation(random));
    }

    /**
     * Sends {@link #TRIES} bodies to {@code path}: each gets a 2xx or a 4xx in the error shape, some of each, and the
     * server still serves.
     */
    private void fuzz(String path, String tenant, java.util.function.Supplier<String> bodies) {
        String key = newTenant(tenant);
        List<String> failures = new ArrayList<>();
        int twoHundreds = 0;
        for (int i = 0; i < TRIES; i++) {
            String body = bodies.get();
            HttpResponse<String> r = http().post(path, key, body);
            int s = r.statusCode();
            if (s >= 500 || s < 200 || (s >= 300 && s < 400)) {
                failures.add("try " + i + " " + body + ": status " + s + ": " + r.body());
            } else if (s >= 400 && !errorShaped(r)) {
                failures.add("try " + i + " " + body + ": " + s + " without the error shape: " + r.body());
            } else if (s < 300) {
                twoHundreds++;
            }
        }
        assertThat(failures).isEmpty();
        assertThat(twoHundreds).isBetween(1, TRIES - 1);
        assertStillServing(key);
    }

    /** A valid chat body with one to three fields set to one of {@link #VALUES}. */
    private String mutation(Random random) {
        StringBuilder b = new StringBuilder("{\"model\":\"" + BASE_MODEL + "\",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"" + TEMPLATE_TEXT[random.nextInt(TEMPLATE_TEXT.length)]
                + "\"}],\"max_tokens\":2,\"temperature\":0");
        for (int k = 1 + random.nextInt(3); k > 0; k--) {
            b.append(",\"").append(FIELDS[random.nextInt(FIELDS.length)]).append("\":")
                    .append(VALUES[random.nextInt(VALUES.length)]);
        }
        return b.append('}').toString();
    }

    @Test
    void mutatedResponsesBodiesNeverGetA5xx() {
        Random random = new Random(SEED + 1);
        fuzz("/v1/responses", "responses-fuzz", () -> {
            StringBuilder b = new StringBuilder("{\"model\":\"" + BASE_MODEL + "\",\"input\":\""
                    + TEMPLATE_TEXT[random.nextInt(TEMPLATE_TEXT.length)] + "\",\"max_output_tokens\":2,"
                    + "\"temperature\":0");
            for (int k = 1 + random.nextInt(3); k > 0; k--) {
                String[] values = random.nextBoolean() ? VALUES : RESPONSES_VALUES;
                b.append(",\"").append(RESPONSES_FIELDS[random.nextInt(RESPONSES_FIELDS.length)]).append("\":")
                        .append(values[random.nextInt(values.length)]);
            }
            return b.append('}').toString();
        });
    }
}

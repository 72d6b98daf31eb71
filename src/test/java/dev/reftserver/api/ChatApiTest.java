package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ReferenceFiles;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code /v1/chat/completions} over real HTTP on stories15M with the Zephyr chat template (the reference's
 * stories15M chat setup): the reference's prompt token counts and greedy answers, streaming, interventions with
 * and without their own prompt template, and 400s naming the field.
 */
class ChatApiTest extends ChatServingTestSupport {

    JsonNode reference() {
        return json.readTree(ReferenceFiles.resource("reference/chat/stories15m-chat/reference.json").toFile());
    }

    HttpResponse<String> chat(String key, String body) {
        return http().post("/v1/chat/completions", key, body);
    }

    String greedyBody(String model, JsonNode messages, int maxTokens) {
        ObjectNode body = json.createObjectNode();
        body.put("model", model);
        body.set("messages", messages);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        return json.writeValueAsString(body);
    }

    @Test
    void referenceConversationsGiveTheReferencePromptTokensAndGreedyAnswer() {
        String key = newTenant("chat");
        for (JsonNode c : reference().get("conversations")) {
            JsonNode greedy = c.get("greedy");
            HttpResponse<String> r = chat(key, greedyBody(BASE_MODEL, c.get("messages"),
                    greedy.get("max_tokens").asInt()));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.headers().firstValue("X-Reft-Intervention")).contains("none");
            JsonNode body = json(r);
            assertThat(body.get("object").asString()).isEqualTo("chat.completion");
            assertThat(body.get("id").asString()).startsWith("chatcmpl-");
            JsonNode choice = body.get("choices").get(0);
            assertThat(choice.get("message").get("role").asString()).isEqualTo("assistant");
            assertThat(choice.get("message").get("content").asString())
                    .as(c.get("name").asString()).isEqualTo(greedy.get("content_in_context").asString());
            assertThat(choice.get("finish_reason").asString()).isEqualTo(greedy.get("finish_reason").asString());
            assertThat(body.get("usage").get("prompt_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());
            assertThat(body.get("usage").get("completion_tokens").asInt())
                    .isEqualTo(greedy.get("completion_tokens").asInt());
        }
    }

    @Test
    void streamSendsTheRoleThenContentDeltasThenFinishUsageAndDone() {
        String key = newTenant("chat-stream");
        JsonNode c = reference().get("conversations").get(1);
        ObjectNode body = (ObjectNode) json.readTree(greedyBody(BASE_MODEL, c.get("messages"), 24));
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        HttpResponse<String> r = chat(key, json.writeValueAsString(body));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<String> events = new ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: ")) {
                events.add(line.substring(6));
            }
        }
        assertThat(events.get(events.size() - 1)).isEqualTo("[DONE]");
        JsonNode first = json.readTree(events.get(0));
        assertThat(first.get("object").asString()).isEqualTo("chat.completion.chunk");
        assertThat(first.get("choices").get(0).get("delta").get("role").asString()).isEqualTo("assistant");
        StringBuilder content = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (String e : events.subList(1, events.size() - 1)) {
            JsonNode chunk = json.readTree(e);
            assertThat(chunk.get("id").asString()).isEqualTo(first.get("id").asString());
            if (chunk.get("choices").isEmpty()) {
                usage = chunk.get("usage");
                continue;
            }
            JsonNode choice = chunk.get("choices").get(0);
            assertThat(choice.get("delta").has("role")).isFalse();
            if (choice.get("delta").has("content")) {
                content.append(choice.get("delta").get("content").asString());
            }
            if (!choice.get("finish_reason").isNull()) {
                finish = choice.get("finish_reason").asString();
            }
        }
        assertThat(content.toString()).isEqualTo(c.get("greedy").get("content_in_context").asString());
        assertThat(finish).isEqualTo("length");
        assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(24);
    }

    @Test
    void textPartsMaxCompletionTokensAndNAreHonoured() {
        String key = newTenant("chat-parts");
        JsonNode c = reference().get("conversations").get(0);
        String text = c.get("messages").get(0).get("content").asString();
        String parts = """
                {"model":"stories15M","messages":[{"role":"user","content":[{"type":"text","text":"%s"}]}],
                 "max_completion_tokens":6,"temperature":0,"n":2,"response_format":{"type":"text"},"user":"u1",
                 "store":false,"service_tier":"auto"}"""
                .formatted(text);
        JsonNode body = json(chat(key, parts));
        assertThat(body.get("choices")).hasSize(2);
        String expected = c.get("greedy").get("content_in_context").asString();
        for (JsonNode choice : body.get("choices")) {
            assertThat(expected).startsWith(choice.get("message").get("content").asString());
        }
        assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(12);
        assertThat(body.get("usage").get("prompt_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]|tools",
        "\"tool_choice\":\"auto\"|tool_choice",
        "\"functions\":[]|functions",
        "\"top_logprobs\":2|top_logprobs",
        "\"logprobs\":false,\"top_logprobs\":2|top_logprobs",
        "\"logprobs\":true,\"top_logprobs\":21|top_logprobs",
        "\"logprobs\":true,\"top_logprobs\":-1|top_logprobs",
        "\"logit_bias\":{\"32000\":1}|logit_bias",
        "\"logit_bias\":{\"x\":1}|logit_bias",
        "\"logit_bias\":{\"5\":101}|logit_bias",
        "\"response_format\":{\"type\":\"json_object\"}|response_format",
        "\"frobnicate\":1|frobnicate",
        "\"store\":true|store",
        "\"service_tier\":\"flex\"|service_tier",
        "\"metadata\":{\"a\":\"b\"}|metadata",
        "\"max_tokens\":5,\"max_completion_tokens\":6|max_completion_tokens",
        "\"temperature\":3|temperature",
        "\"max_completion_tokens\":100000|max_completion_tokens"})
    void unsupportedOrUnknownFieldsAre400NamingTheField(String extra, String param) {
        String key = newTenant("chat-bad");
        HttpResponse<String> r = chat(key, """
                {"model":"stories15M","messages":[{"role":"user","content":"Hi"}],%s}""".formatted(extra));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).get("error").get("param").asString()).isEqualTo(param);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "[]|messages",
        "[{\"role\":\"tool\",\"content\":\"x\"}]|messages[0].role",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]|messages[0].content[0]",
        "[{\"role\":\"user\",\"content\":7}]|messages[0].content",
        "[{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[]}]|messages[0].tool_calls"})
    void badMessagesAre400NamingTheMessage(String messages, String param) {
        String key = newTenant("chat-msg");
        HttpResponse<String> r = chat(key, """
                {"model":"stories15M","messages":%s}""".formatted(messages));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).get("error").get("param").asString()).isEqualTo(param);
    }

    @Test
    void unknownModelIs404AsForCompletions() {
        String key = newTenant("chat-404");
        HttpResponse<String> r = chat(key, """
                {"model":"no-such-thing","messages":[{"role":"user","content":"Hi"}]}""");
        assertThat(r.statusCode()).isEqualTo(404);
    }

    /**
     * A bundle trained on its own prompt template: a chat request to it renders the last user message into that
     * template and tokenizes it as pyreft does (BOS first), so it answers exactly as a completion of the filled
     * template with the same intervention; completions themselves are never templated.
     */
    @Test
    void interventionWithPromptTemplateRendersTheLastUserMessageIntoIt() {
        String key = newTenant("chat-tpl");
        String template = "Story prompt: %s\nStory:";
        HttpResponse<String> up = http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(),
                Map.of("name", "templated", "positions", "l1", "prompt_template", template));
        assertThat(up.statusCode()).as(up.body()).isEqualTo(201);
        HttpResponse<String> plain = http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(),
                Map.of("name", "plain", "positions", "l1"));
        assertThat(plain.statusCode()).isEqualTo(201);

        String message = "A dog finds a ball";
        HttpResponse<String> chat = chat(key, """
                {"model":"templated","messages":[{"role":"system","content":"ignored"},
                 {"role":"user","content":"%s"}],"max_tokens":12,"temperature":0}""".formatted(message));
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        assertThat(chat.headers().firstValue("X-Reft-Intervention")).contains("templated@1");
        HttpResponse<String> completion = http().post("/v1/completions", key, completionBody("plain",
                template.replace("%s", message), 12, false));
        assertThat(json(chat).get("choices").get(0).get("message").get("content").asString())
                .isEqualTo(text(completion));
        assertThat(json(chat).get("usage")).isEqualTo(json(completion).get("usage"));

        HttpResponse<String> templatedCompletion = http().post("/v1/completions", key, completionBody("templated",
                template.replace("%s", message), 12, false));
        assertThat(text(templatedCompletion)).isEqualTo(text(completion));

        HttpResponse<String> bad = http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(),
                Map.of("name", "bad", "positions", "l1", "prompt_template", "no slot"));
        assertThat(bad.statusCode()).isEqualTo(400);
    }

    /**
     * Without a prompt template, a bundle gets the chat template: the same prompt tokens as the base model, with the
     * bundle's edit at the rendered prompt's last position changing the answer.
     */
    @Test
    void interventionWithoutPromptTemplateUsesTheChatTemplate() {
        String key = newTenant("chat-iv");
        http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(), Map.of("name", "a", "positions", "l1"));
        JsonNode c = reference().get("conversations").get(0);
        HttpResponse<String> r = chat(key, greedyBody("a", c.get("messages"), 24));
        assertThat(r.headers().firstValue("X-Reft-Intervention")).contains("a@1");
        assertThat(json(r).get("usage").get("prompt_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());
        assertThat(json(r).get("choices").get(0).get("message").get("content").asString())
                .isNotEqualTo(c.get("greedy").get("content_in_context").asString());
    }

    /**
     * {@code interventions} on chat, as on completions: a one-member composition at scale 1 answers as the
     * intervention named alone, scale 0 as the base model, the header lists the members, another tenant's names
     * are 404 naming the entry, and malformed compositions are 400 naming the field. Several members render with
     * the chat template even where one declares its own prompt template.
     */
    @Test
    void compositionsComposeOnChatAsOnCompletions() {
        String key = newTenant("chat-compose");
        String other = newTenant("chat-compose-other");
        http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(), Map.of("name", "a", "positions", "l1"));
        HttpResponse<String> up = http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(),
                Map.of("name", "templated", "positions", "l1", "prompt_template", "Story prompt: %s\nStory:"));
        assertThat(up.statusCode()).as(up.body()).isEqualTo(201);
        JsonNode c = reference().get("conversations").get(0);
        String messages = json.writeValueAsString(c.get("messages"));
        String alone = content(chat(key, greedyBody("a", c.get("messages"), 16)));
        String base = content(chat(key, greedyBody("stories15M", c.get("messages"), 16)));
        assertThat(alone).isNotEqualTo(base);

        HttpResponse<String> one = chat(key, composed(messages, "[{\"name\":\"a\",\"scale\":1}]"));
        assertThat(one.statusCode()).as(one.body()).isEqualTo(200);
        assertThat(one.headers().firstValue("X-Reft-Intervention")).contains("a@1;scale=1.0");
        assertThat(content(one)).isEqualTo(alone);
        assertThat(content(chat(key, composed(messages, "[{\"name\":\"a@1\",\"scale\":0}]")))).isEqualTo(base);

        HttpResponse<String> two = chat(key, composed(messages,
                "[{\"name\":\"templated\"},{\"name\":\"a\",\"scale\":-0.5}]"));
        assertThat(two.statusCode()).as(two.body()).isEqualTo(200);
        assertThat(two.headers().firstValue("X-Reft-Intervention"))
                .contains("templated@1;scale=1.0,a@1;scale=-0.5");
        assertThat(json(two).get("usage").get("prompt_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());

        HttpResponse<String> foreign = chat(other, composed(messages, "[{\"name\":\"a\"}]"));
        assertThat(foreign.statusCode()).isEqualTo(404);
        assertThat(json(foreign).get("error").get("param").asString()).isEqualTo("interventions[0].name");

        for (String[] bad : List.of(
                new String[] {"[]", "interventions"},
                new String[] {"[{\"name\":\"a\",\"scale\":11}]", "interventions[0].scale"},
                new String[] {"[{\"name\":\"a\",\"weight\":1}]", "interventions[0].weight"},
                new String[] {"[{\"scale\":1}]", "interventions[0].name"})) {
            HttpResponse<String> r = chat(key, composed(messages, bad[0]));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            assertThat(json(r).get("error").get("param").asString()).isEqualTo(bad[1]);
        }
        HttpResponse<String> both = chat(key, """
                {"model":"stories15M","messages":%s,"intervention":"a","interventions":[{"name":"a"}]}"""
                .formatted(messages));
        assertThat(both.statusCode()).isEqualTo(400);
        assertThat(json(both).get("error").get("param").asString()).isEqualTo("interventions");
    }

    private static String composed(String messages, String interventions) {
        return """
                {"model":"stories15M","messages":%s,"max_tokens":16,"temperature":0,"interventions":%s}"""
                .formatted(messages, interventions);
    }

    private String content(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json(r).get("choices").get(0).get("message").get("content").asString();
    }
}

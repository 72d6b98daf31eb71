package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.model.ReferenceFiles;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code logprobs}, {@code top_logprobs} and {@code logit_bias} on {@code /v1/chat/completions} (stories15M, Zephyr
 * template): a chat's entries are those of a completion of the same rendered prompt ids (whose log-probabilities
 * {@link LogprobsTest} checks against Hugging Face's), in OpenAI's chat shape, whole and streamed.
 */
class ChatLogprobsTest extends ChatServingTestSupport {

    static final int STEPS = 8;

    JsonNode conversations() {
        return json.readTree(ReferenceFiles.resource("reference/chat/stories15m-chat/reference.json").toFile())
                .get("conversations");
    }

    ObjectNode chatBody(JsonNode conversation, int top) {
        ObjectNode body = json.createObjectNode();
        body.put("model", BASE_MODEL);
        body.set("messages", conversation.get("messages"));
        body.put("max_tokens", STEPS);
        body.put("temperature", 0);
        body.put("logprobs", true);
        body.put("top_logprobs", top);
        return body;
    }

    JsonNode ok(String key, String path, Object body) {
        HttpResponse<String> r = http().post(path, key, body instanceof String s ? s : json.writeValueAsString(body));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json(r);
    }

    static List<Integer> utf8(String s) {
        List<Integer> out = new ArrayList<>();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            out.add(b & 0xff);
        }
        return out;
    }

    @Test
    void entriesAreThoseOfACompletionOfTheRenderedPrompt() {
        String key = newTenant("chat-lp");
        for (JsonNode c : conversations()) {
            String as = c.get("name").asString();
            JsonNode choice = ok(key, "/v1/chat/completions", chatBody(c, 5)).get("choices").get(0);
            ObjectNode completion = json.createObjectNode();
            completion.put("model", BASE_MODEL);
            completion.set("prompt", c.get("prompt_ids"));
            completion.put("max_tokens", STEPS);
            completion.put("temperature", 0);
            completion.put("logprobs", 5);
            JsonNode expected = ok(key, "/v1/completions", completion).get("choices").get(0).get("logprobs");

            JsonNode lp = choice.get("logprobs");
            assertThat(lp.has("refusal")).isTrue();
            assertThat(lp.get("refusal").isNull()).isTrue();
            JsonNode content = lp.get("content");
            assertThat(content.size()).as(as).isEqualTo(STEPS);
            StringBuilder joined = new StringBuilder();
            List<Integer> bytes = new ArrayList<>();
            for (int s = 0; s < STEPS; s++) {
                JsonNode e = content.get(s);
                String token = e.get("token").asString();
                assertThat(token).as(as).isEqualTo(expected.get("tokens").get(s).asString());
                assertThat(e.get("logprob").asDouble()).as(as)
                        .isCloseTo(expected.get("token_logprobs").get(s).asDouble(), within(1e-5));
                bytes.addAll(e.get("bytes").valueStream().map(JsonNode::asInt).toList());
                JsonNode top = e.get("top_logprobs");
                assertThat(top.size()).as(as).isEqualTo(5);
                // greedy: the token taken is the most likely one
                assertThat(top.get(0).get("token").asString()).as(as).isEqualTo(token);
                assertThat(top.get(0).get("logprob").asDouble()).isEqualTo(e.get("logprob").asDouble());
                for (int k = 0; k < 5; k++) {
                    JsonNode alt = top.get(k);
                    if (k > 0) {
                        assertThat(alt.get("logprob").asDouble()).isLessThanOrEqualTo(top.get(k - 1).get("logprob")
                                .asDouble());
                    }
                    String text = alt.get("token").asString();
                    if (!text.contains("\uFFFD")) {
                        assertThat(alt.get("bytes").valueStream().map(JsonNode::asInt).toList())
                                .isEqualTo(utf8(text));
                    }
                    JsonNode completionTop = expected.get("top_logprobs").get(s);
                    assertThat(completionTop.has(text)).as("%s step %d: '%s'", as, s, text).isTrue();
                    // a completion's map keeps the likeliest of alternatives that show the same text
                    assertThat(alt.get("logprob").asDouble()).isLessThanOrEqualTo(
                            completionTop.get(text).asDouble() + 1e-5);
                    if (top.valueStream().filter(o -> o.get("token").asString().equals(text)).count() == 1) {
                        assertThat(alt.get("logprob").asDouble()).isCloseTo(completionTop.get(text).asDouble(),
                                within(1e-5));
                    }
                }
                joined.append(token);
            }
            assertThat(joined.toString()).isEqualTo(choice.get("message").get("content").asString());
            // the tokens' own bytes are the answer's UTF-8
            assertThat(bytes).isEqualTo(utf8(choice.get("message").get("content").asString()));
        }
    }

    @Test
    void streamedChunksCarryTheSameEntriesAsOneBody() {
        String key = newTenant("chat-lp-stream");
        JsonNode c = conversations().get(1);
        JsonNode whole = ok(key, "/v1/chat/completions", chatBody(c, 2)).get("choices").get(0).get("logprobs")
                .get("content");
        ObjectNode body = chatBody(c, 2);
        body.put("stream", true);
        HttpResponse<String> r = http().post("/v1/chat/completions", key, json.writeValueAsString(body));
        assertThat(r.statusCode()).isEqualTo(200);
        List<JsonNode> streamed = new ArrayList<>();
        StringBuilder content = new StringBuilder();
        for (String line : r.body().split("\n")) {
            if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                continue;
            }
            JsonNode choice = json.readTree(line.substring(6)).get("choices").get(0);
            JsonNode lp = choice.get("logprobs");
            if (choice.get("delta").has("role")) {
                assertThat(lp.isNull()).isTrue();
            }
            if (!lp.isNull()) {
                assertThat(lp.get("content").isEmpty()).isFalse();
                lp.get("content").forEach(streamed::add);
            }
            if (choice.get("delta").has("content")) {
                content.append(choice.get("delta").get("content").asString());
            }
        }
        assertThat(streamed).hasSize(STEPS);
        StringBuilder joined = new StringBuilder();
        for (int s = 0; s < STEPS; s++) {
            assertThat(streamed.get(s).get("token")).isEqualTo(whole.get(s).get("token"));
            assertThat(streamed.get(s).get("logprob").asDouble()).isCloseTo(whole.get(s).get("logprob").asDouble(),
                    within(1e-5));
            assertThat(streamed.get(s).get("top_logprobs")).hasSize(2);
            joined.append(streamed.get(s).get("token").asString());
        }
        assertThat(joined.toString()).isEqualTo(content.toString());
    }

    @Test
    void withoutLogprobsTheChoiceHasNullAndTopZeroGivesEmptyAlternatives() {
        String key = newTenant("chat-lp-none");
        JsonNode c = conversations().get(0);
        ObjectNode plain = chatBody(c, 0);
        plain.remove("logprobs");
        plain.remove("top_logprobs");
        JsonNode choice = ok(key, "/v1/chat/completions", plain).get("choices").get(0);
        assertThat(choice.has("logprobs")).isTrue();
        assertThat(choice.get("logprobs").isNull()).isTrue();
        ObjectNode noTop = chatBody(c, 0);
        noTop.remove("top_logprobs");
        for (ObjectNode body : List.of(noTop, chatBody(c, 0))) {
            JsonNode content = ok(key, "/v1/chat/completions", body).get("choices").get(0).get("logprobs")
                    .get("content");
            assertThat(content).hasSize(STEPS);
            content.forEach(e -> assertThat(e.get("top_logprobs")).isEmpty());
        }
    }

    @Test
    void logitBiasSteersThePickWhileTheReportedLogprobsStayRaw() {
        String key = newTenant("chat-bias");
        JsonNode c = conversations().get(0);
        int greedyFirst = c.get("greedy").get("generated_ids").get(0).asInt();
        // +100 on one token: every step takes it, though it is not the model's most likely token
        int forced = 6635;
        ObjectNode body = chatBody(c, 1);
        body.putObject("logit_bias").put(String.valueOf(forced), 100);
        JsonNode content = ok(key, "/v1/chat/completions", body).get("choices").get(0).get("logprobs").get("content");
        String forcedText = content.get(0).get("token").asString();
        for (int s = 0; s < STEPS; s++) {
            assertThat(content.get(s).get("token").asString()).isEqualTo(forcedText);
        }
        // the model's own first pick is another token: the reported log-probability is the raw one, below it
        assertThat(greedyFirst).isNotEqualTo(forced);
        assertThat(content.get(0).get("logprob").asDouble()).as("raw, before the bias")
                .isLessThan(content.get(0).get("top_logprobs").get(0).get("logprob").asDouble());
        // -100 on the unbiased greedy first token: the first pick changes
        ObjectNode ban = chatBody(c, 1);
        ban.putObject("logit_bias").put(String.valueOf(greedyFirst), -100);
        JsonNode first = ok(key, "/v1/chat/completions", ban).get("choices").get(0).get("logprobs").get("content")
                .get(0);
        ObjectNode plain = chatBody(c, 1);
        JsonNode unbiased = ok(key, "/v1/chat/completions", plain).get("choices").get(0).get("logprobs")
                .get("content").get(0);
        assertThat(first.get("token").asString()).isNotEqualTo(unbiased.get("token").asString());
        assertThat(first.get("logprob").asDouble()).isLessThan(unbiased.get("logprob").asDouble());
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseIncludable;
import com.openai.models.responses.ResponseStreamEvent;
import dev.reftserver.model.ReferenceFiles;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code /v1/responses} over real HTTP on stories15M with the Zephyr chat template: the reference's conversations
 * give the reference's prompt token counts and greedy answers as Responses (whole and streamed, through the
 * official OpenAI Java client too), interventions and log-probabilities answer as on chat, and what a stateless
 * text server cannot do is 400 naming the field.
 */
class ResponsesApiTest extends ChatServingTestSupport {

    JsonNode reference() {
        return json.readTree(ReferenceFiles.resource("reference/chat/stories15m-chat/reference.json").toFile());
    }

    HttpResponse<String> respond(String key, String body) {
        return http().post("/v1/responses", key, body);
    }

    /** A greedy Responses body of a reference conversation: its system message as instructions, the rest as input. */
    ObjectNode greedy(String model, JsonNode messages, int maxTokens) {
        ObjectNode body = json.createObjectNode();
        body.put("model", model);
        ArrayNode input = body.putArray("input");
        for (JsonNode m : messages) {
            if (m.get("role").asString().equals("system")) {
                body.put("instructions", m.get("content").asString());
            } else {
                input.add(m);
            }
        }
        body.put("max_output_tokens", maxTokens);
        body.put("temperature", 0);
        return body;
    }

    OpenAIClient openai(String key) {
        return OpenAIOkHttpClient.builder().baseUrl("http://localhost:" + port + "/v1").apiKey(key).build();
    }

    @Test
    void referenceConversationsGiveTheReferencePromptTokensAndGreedyAnswer() {
        String key = newTenant("resp");
        for (JsonNode c : reference().get("conversations")) {
            JsonNode expected = c.get("greedy");
            HttpResponse<String> r = respond(key, json.writeValueAsString(greedy(BASE_MODEL, c.get("messages"),
                    expected.get("max_tokens").asInt())));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.headers().firstValue("X-Reft-Intervention")).contains("none");
            JsonNode body = json(r);
            assertThat(body.get("object").asString()).isEqualTo("response");
            assertThat(body.get("id").asString()).startsWith("resp_");
            assertThat(body.get("output")).hasSize(1);
            JsonNode message = body.get("output").get(0);
            assertThat(message.get("type").asString()).isEqualTo("message");
            assertThat(message.get("role").asString()).isEqualTo("assistant");
            assertThat(message.get("content").get(0).get("type").asString()).isEqualTo("output_text");
            assertThat(message.get("content").get(0).get("text").asString()).as(c.get("name").asString())
                    .isEqualTo(expected.get("content_in_context").asString());
            // Every reference answer is cut at its max_tokens.
            assertThat(expected.get("finish_reason").asString()).isEqualTo("length");
            assertThat(body.get("status").asString()).isEqualTo("incomplete");
            assertThat(message.get("status").asString()).isEqualTo("incomplete");
            assertThat(body.get("incomplete_details").get("reason").asString()).isEqualTo("max_output_tokens");
            assertThat(body.get("usage").get("input_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());
            assertThat(body.get("usage").get("output_tokens").asInt())
                    .isEqualTo(expected.get("completion_tokens").asInt());
            assertThat(body.get("usage").get("total_tokens").asInt())
                    .isEqualTo(c.get("prompt_tokens").asInt() + expected.get("completion_tokens").asInt());
        }
    }

    @Test
    void theOfficialClientReadsAWholeAndAStreamedResponse() {
        String key = newTenant("resp-client");
        JsonNode c = reference().get("conversations").get(0);
        String prompt = c.get("messages").get(0).get("content").asString();
        String expected = c.get("greedy").get("content_in_context").asString();
        OpenAIClient client = openai(key);
        Response whole = client.responses().create(ResponseCreateParams.builder().model(BASE_MODEL).input(prompt)
                .maxOutputTokens(24).temperature(0.0).metadata(ResponseCreateParams.Metadata.builder()
                        .putAdditionalProperty("team", com.openai.core.JsonValue.from("search")).build()).build());
        assertThat(outputText(whole)).isEqualTo(expected);
        assertThat(whole.status()).hasValueSatisfying(s -> assertThat(s.asString()).isEqualTo("incomplete"));
        assertThat(whole.usage().orElseThrow().inputTokens()).isEqualTo(c.get("prompt_tokens").asLong());
        assertThat(whole.usage().orElseThrow().outputTokens()).isEqualTo(24);
        assertThat(whole.metadata().orElseThrow()._additionalProperties().get("team").asString())
                .contains("search");
        assertThat(whole.temperature()).contains(0.0);
        assertThat(whole.maxOutputTokens()).contains(24L);

        // Streamed: the deltas make the answer, and the last event is the whole (events() checks their numbers).
        List<ResponseStreamEvent> events = new ArrayList<>();
        try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(ResponseCreateParams
                .builder().model(BASE_MODEL).input(prompt).maxOutputTokens(24).temperature(0.0).build())) {
            stream.stream().forEach(events::add);
        }
        StringBuilder deltas = new StringBuilder();
        for (int i = 0; i < events.size(); i++) {
            ResponseStreamEvent e = events.get(i);
            e.outputTextDelta().ifPresent(d -> deltas.append(d.delta()));
        }
        assertThat(deltas.toString()).isEqualTo(expected);
        assertThat(events.get(0).isCreated()).isTrue();
        assertThat(events.get(1).isInProgress()).isTrue();
        assertThat(events.get(2).isOutputItemAdded()).isTrue();
        assertThat(events.get(3).isContentPartAdded()).isTrue();
        int n = events.size();
        assertThat(events.get(n - 4).outputTextDone().orElseThrow().text()).isEqualTo(expected);
        assertThat(events.get(n - 3).isContentPartDone()).isTrue();
        assertThat(events.get(n - 2).isOutputItemDone()).isTrue();
        Response last = events.get(n - 1).incomplete().orElseThrow().response();
        assertThat(outputText(last)).isEqualTo(expected);
        assertThat(last.usage().orElseThrow().totalTokens()).isEqualTo(c.get("prompt_tokens").asLong() + 24);
        assertThat(last.id()).isEqualTo(events.get(0).created().orElseThrow().response().id());
    }

    /** The text of a response's one message. */
    static String outputText(Response r) {
        assertThat(r.output()).hasSize(1);
        var content = r.output().get(0).message().orElseThrow().content();
        assertThat(content).hasSize(1);
        return content.get(0).outputText().orElseThrow().text();
    }

    @Test
    void anAnswerThatStopsIsCompletedAndCarriesTheChatAnswersLogprobs() {
        String key = newTenant("resp-stop");
        JsonNode c = reference().get("conversations").get(0);
        ObjectNode body = greedy(BASE_MODEL, c.get("messages"), 24);
        body.put("stop", ",");
        body.putArray("include").add("message.output_text.logprobs");
        body.put("top_logprobs", 2);
        JsonNode r = json(respond(key, json.writeValueAsString(body)));
        assertThat(r.get("status").asString()).as(r.toString()).isEqualTo("completed");
        assertThat(r.get("incomplete_details").isNull()).isTrue();
        JsonNode text = r.get("output").get(0).get("content").get(0);
        String expected = c.get("greedy").get("content_in_context").asString();
        assertThat(text.get("text").asString()).isEqualTo(expected.substring(0, expected.indexOf(',')));

        // The same conversation on chat: the same tokens with the same log-probabilities.
        ObjectNode chat = json.createObjectNode();
        chat.put("model", BASE_MODEL);
        chat.set("messages", c.get("messages"));
        chat.put("max_tokens", 24);
        chat.put("temperature", 0);
        chat.put("stop", ",");
        chat.put("logprobs", true);
        chat.put("top_logprobs", 2);
        JsonNode chatAnswer = json(http().post("/v1/chat/completions", key, json.writeValueAsString(chat)));
        JsonNode chatLogprobs = chatAnswer.get("choices").get(0).get("logprobs").get("content");
        assertThat(text.get("logprobs")).isEqualTo(chatLogprobs);
        assertThat(text.get("logprobs").get(0).get("top_logprobs")).hasSize(2);

        // Streamed, the deltas carry the same entries.
        body.put("stream", true);
        List<JsonNode> entries = new ArrayList<>();
        String last = null;
        for (JsonNode e : events(respond(key, json.writeValueAsString(body)))) {
            if (e.get("type").asString().equals("response.output_text.delta")) {
                e.get("logprobs").forEach(entries::add);
            }
            last = e.get("type").asString();
        }
        List<JsonNode> chatEntries = new ArrayList<>();
        chatLogprobs.forEach(chatEntries::add);
        assertThat(entries).isEqualTo(chatEntries);
        assertThat(last).isEqualTo("response.completed");
    }

    /** The stream's events: each an {@code event:} line naming the {@code data:} line's type, no [DONE]. */
    List<JsonNode> events(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<JsonNode> out = new ArrayList<>();
        String name = null;
        for (String line : r.body().split("\n")) {
            if (line.startsWith("event: ")) {
                name = line.substring(7);
            } else if (line.startsWith("data: ")) {
                JsonNode e = json.readTree(line.substring(6));
                assertThat(e.get("type").asString()).isEqualTo(name);
                assertThat(e.get("sequence_number").asInt()).isEqualTo(out.size());
                out.add(e);
                name = null;
            }
        }
        return out;
    }

    @Test
    void anInterventionAnswersAsOnChat() {
        String key = newTenant("resp-iv");
        http().upload(key, "a.zip", PrometheusMetricsTest.referenceBundleA(), Map.of("name", "a", "positions", "l1"));
        JsonNode c = reference().get("conversations").get(1);
        ObjectNode chat = json.createObjectNode();
        chat.put("model", "a");
        chat.set("messages", c.get("messages"));
        chat.put("max_tokens", 16);
        chat.put("temperature", 0);
        JsonNode chatAnswer = json(http().post("/v1/chat/completions", key, json.writeValueAsString(chat)));
        HttpResponse<String> r = respond(key, json.writeValueAsString(greedy("a", c.get("messages"), 16)));
        assertThat(r.headers().firstValue("X-Reft-Intervention")).contains("a@1");
        assertThat(json(r).get("output").get(0).get("content").get(0).get("text").asString())
                .isEqualTo(chatAnswer.get("choices").get(0).get("message").get("content").asString())
                .isNotEqualTo(c.get("greedy").get("content_in_context").asString().substring(0, 10));
        assertThat(json(r).get("usage").get("input_tokens").asInt()).isEqualTo(c.get("prompt_tokens").asInt());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "\"previous_response_id\":\"resp_1\"|previous_response_id",
        "\"conversation\":\"conv_1\"|conversation",
        "\"background\":true|background",
        "\"reasoning\":{\"effort\":\"low\"}|reasoning",
        "\"tools\":[{\"type\":\"web_search\"}]|tools",
        "\"tool_choice\":\"required\"|tool_choice",
        "\"text\":{\"format\":{\"type\":\"json_object\"}}|text.format",
        "\"text\":{\"verbosity\":\"low\"}|text.verbosity",
        "\"include\":[\"reasoning.encrypted_content\"]|include[0]",
        "\"top_logprobs\":21|top_logprobs",
        "\"store\":true|store",
        "\"truncation\":\"auto\"|truncation",
        "\"stream_options\":{\"include_obfuscation\":true}|stream_options",
        "\"metadata\":{\"a\":1}|metadata",
        "\"max_output_tokens\":0|max_output_tokens",
        "\"max_output_tokens\":100000|max_output_tokens",
        "\"temperature\":3|temperature",
        "\"frobnicate\":1|frobnicate"})
    void whatThisServerCannotDoIs400NamingTheField(String extra, String param) {
        assertRefusedNaming("""
                {"model":"stories15M","input":"Hi",%s}""".formatted(extra), param);
    }

    /** A 400 invalid_request_error whose {@code param} names the field. */
    private void assertRefusedNaming(String body, String param) {
        HttpResponse<String> r = respond(newTenant("resp-bad"), body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).get("error").get("param").asString()).isEqualTo(param);
        assertThat(json(r).get("error").get("type").asString()).isEqualTo("invalid_request_error");
    }

    @Test
    void refusalsOfTheConversationNameInputAndTheTokenLimitMaxOutputTokens() {
        String key = newTenant("resp-names");
        HttpResponse<String> big = respond(key, "{\"model\":\"stories15M\",\"input\":\"" + "a".repeat(20_000)
                + "\"}");
        assertThat(big.statusCode()).isEqualTo(400);
        assertThat(json(big).get("error").get("param").asString()).isEqualTo("input");
        assertThat(json(big).get("error").get("message").asString()).startsWith("input has 20000 bytes");
        HttpResponse<String> longer = respond(key, "{\"model\":\"stories15M\",\"input\":\"Hi\","
                + "\"max_output_tokens\":250}");
        assertThat(json(longer).get("error").get("param").asString()).isEqualTo("max_output_tokens");
        assertThat(json(longer).get("error").get("message").asString()).contains("with max_output_tokens 250")
                .doesNotContain("max_completion_tokens");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "[]|input",
        "7|input",
        "[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":\"x\"}]|input[0].type",
        "[{\"role\":\"tool\",\"content\":\"x\"}]|input[0].role",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"x\"}]}]|input[0].content[0]",
        "[{\"role\":\"user\",\"content\":7}]|input[0].content",
        "[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]|input[0].tool_calls"})
    void badInputIs400NamingTheItem(String input, String param) {
        assertRefusedNaming("""
                {"model":"stories15M","input":%s}""".formatted(input), param);
    }

    @Test
    void acceptedSettingsThatSayWhatThisServerDoesAnyway() {
        String key = newTenant("resp-ok");
        HttpResponse<String> r = respond(key, """
                {"model":"stories15M","input":[{"type":"message","role":"user","content":[{"type":"input_text",
                 "text":"Hi"}]}],"max_output_tokens":4,"temperature":0,"store":false,"truncation":"disabled",
                 "tools":[],"tool_choice":"auto","text":{"format":{"type":"text"}},"service_tier":"auto",
                 "user":"u1","safety_identifier":"s1","prompt_cache_key":"k","include":[],
                 "stream_options":{"include_obfuscation":false}}""");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(json(r).get("user").asString()).isEqualTo("u1");
        assertThat(json(r).get("store").asBoolean()).isFalse();
        assertThatThrownBy(() -> openai(key).responses().create(ResponseCreateParams.builder().model(BASE_MODEL)
                .input("Hi").previousResponseId("resp_1").build()))
                .isInstanceOf(BadRequestException.class).hasMessageContaining("previous_response_id");
        // Nothing is stored: retrieving, deleting or listing a response's input is 404 saying so.
        for (String[] call : new String[][] {{"GET", "/v1/responses/resp_1"}, {"DELETE", "/v1/responses/resp_1"},
                {"GET", "/v1/responses/resp_1/input_items"}, {"POST", "/v1/responses/resp_1/cancel"}}) {
            HttpResponse<String> stored = call[0].equals("GET") ? http().get(call[1], key)
                    : call[0].equals("DELETE") ? http().delete(call[1], key) : http().post(call[1], key, "{}");
            assertThat(stored.statusCode()).as("%s %s", call[0], call[1]).isEqualTo(404);
            assertThat(json(stored).get("error").get("message").asString()).contains("does not store responses");
        }
        assertThatThrownBy(() -> openai(key).responses().retrieve("resp_1"))
                .isInstanceOf(com.openai.errors.NotFoundException.class).hasMessageContaining("does not store");
        assertThat(ResponseIncludable.MESSAGE_OUTPUT_TEXT_LOGPROBS.asString())
                .isEqualTo(ResponsesRequest.LOGPROBS);
    }
}

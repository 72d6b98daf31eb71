package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.ResponseFormatJsonObject;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.reftserver.model.ReferenceFiles;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * The official OpenAI Java client against the server: chat completions and completions, whole and streamed, on
 * stories15M (with the Zephyr chat template of the reference's chat setup). What the client reads must be what the
 * server's own API and the reference say.
 */
class OpenAiClientTest extends ChatServingTestSupport {

    OpenAIClient openai;
    String key;

    @BeforeEach
    void client() {
        key = newTenant("openai");
        openai = OpenAIOkHttpClient.builder()
                .baseUrl("http://localhost:" + port + "/v1")
                .apiKey(key)
                .timeout(Duration.ofMinutes(2))
                .maxRetries(0)
                .build();
    }

    JsonNode conversation(int i) {
        return json.readTree(ReferenceFiles.resource("reference/chat/stories15m-chat/reference.json").toFile())
                .get("conversations").get(i);
    }

    ChatCompletionCreateParams.Builder chatParams(JsonNode c) {
        ChatCompletionCreateParams.Builder b = ChatCompletionCreateParams.builder()
                .model(BASE_MODEL)
                .maxCompletionTokens(c.get("greedy").get("max_tokens").asLong())
                .temperature(0.0);
        for (JsonNode m : c.get("messages")) {
            switch (m.get("role").asString()) {
                case "system" -> b.addSystemMessage(m.get("content").asString());
                case "user" -> b.addUserMessage(m.get("content").asString());
                case "assistant" -> b.addAssistantMessage(m.get("content").asString());
                default -> throw new IllegalArgumentException(m.toString());
            }
        }
        return b;
    }

    @Test
    void theClientListsTheModelsOnceThroughItsAutoPagination() {
        List<String> ids = new java.util.ArrayList<>();
        for (var m : openai.models().list().autoPager()) {
            ids.add(m.id());
            if (ids.size() > 10) {
                break; // a list the client took for paged and asked again and again
            }
        }
        assertThat(ids).containsExactly(BASE_MODEL);
        assertThat(openai.models().retrieve(BASE_MODEL).id()).isEqualTo(BASE_MODEL);
        assertThatThrownBy(() -> openai.models().retrieve("no-such-model"))
                .isInstanceOf(com.openai.errors.NotFoundException.class);
    }

    @Test
    void chatCompletionGivesTheReferenceGreedyAnswerAndPromptTokens() {
        JsonNode c = conversation(1);
        ChatCompletion r = openai.chat().completions().create(chatParams(c).build());
        assertThat(r.choices()).hasSize(1);
        assertThat(r.choices().get(0).message().content())
                .contains(c.get("greedy").get("content_in_context").asString());
        assertThat(r.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.LENGTH);
        assertThat(r.usage().orElseThrow().promptTokens()).isEqualTo(c.get("prompt_tokens").asLong());
        assertThat(r.usage().orElseThrow().completionTokens()).isEqualTo(24);
    }

    @Test
    void streamedChatCompletionConcatenatesToTheSameAnswer() {
        JsonNode c = conversation(2);
        StringBuilder text = new StringBuilder();
        long[] promptTokens = {-1};
        String[] finish = {null};
        try (StreamResponse<ChatCompletionChunk> stream = openai.chat().completions().createStreaming(chatParams(c)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunk -> {
                chunk.usage().ifPresent(u -> promptTokens[0] = u.promptTokens());
                for (ChatCompletionChunk.Choice choice : chunk.choices()) {
                    choice.delta().content().ifPresent(text::append);
                    choice.finishReason().ifPresent(f -> finish[0] = f.asString());
                }
            });
        }
        assertThat(text.toString()).isEqualTo(c.get("greedy").get("content_in_context").asString());
        assertThat(finish[0]).isEqualTo("length");
        assertThat(promptTokens[0]).isEqualTo(c.get("prompt_tokens").asLong());
    }

    @Test
    void completionGivesWhatTheServersOwnApiGives() {
        String prompt = "Once upon a time";
        String expected = text(http().post("/v1/completions", key, completionBody(BASE_MODEL, prompt, 24, false)));
        Completion r = openai.completions().create(CompletionCreateParams.builder()
                .model(BASE_MODEL).prompt(prompt).maxTokens(24).temperature(0.0).build());
        assertThat(r.choices().get(0).text()).isEqualTo(expected);
        assertThat(r.usage().orElseThrow().completionTokens()).isEqualTo(24);

        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<Completion> stream = openai.completions().createStreaming(CompletionCreateParams.builder()
                .model(BASE_MODEL).prompt(prompt).maxTokens(24).temperature(0.0).build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(choice -> streamed.append(choice.text())));
        }
        assertThat(streamed.toString()).isEqualTo(expected);
    }

    @Test
    void chatLogprobsReachTheClientAsItsOwnTypes() {
        ChatCompletion r = openai.chat().completions().create(chatParams(conversation(0))
                .maxCompletionTokens(8).logprobs(true).topLogprobs(3).build());
        ChatCompletion.Choice choice = r.choices().get(0);
        List<ChatCompletionTokenLogprob> content = choice.logprobs().orElseThrow().content().orElseThrow();
        assertThat(content).hasSize(8);
        StringBuilder joined = new StringBuilder();
        for (ChatCompletionTokenLogprob t : content) {
            assertThat(t.topLogprobs()).hasSize(3);
            assertThat(t.topLogprobs().get(0).token()).isEqualTo(t.token());
            assertThat(t.topLogprobs().get(0).logprob()).isEqualTo(t.logprob());
            assertThat(t.logprob()).isNegative();
            assertThat(t.bytes().orElseThrow()).hasSize(t.token().getBytes(StandardCharsets.UTF_8).length);
            joined.append(t.token());
        }
        assertThat(choice.message().content()).contains(joined.toString());
    }

    @Test
    void unsupportedFieldsReachTheClientAsBadRequestNamingTheField() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(com.openai.errors.BadRequestException.class,
                () -> openai.chat().completions().create(chatParams(conversation(0))
                        .responseFormat(ResponseFormatJsonObject.builder().build()).build()));
        assertThat(e.getMessage()).contains("response_format");
    }
}

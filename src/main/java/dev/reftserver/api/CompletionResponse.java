package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.List;
import java.util.Map;

/** OpenAI Completions response; streaming chunks share this shape with one choice's delta text each. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CompletionResponse(String id, String object, long created, String model, List<Choice> choices,
        Usage usage) {

    /**
     * @param logprobs     null unless the request asked for {@code logprobs}
     * @param finishReason {@code stop} or {@code length}; null in streaming chunks until the choice ends
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Choice(String text, int index, Logprobs logprobs,
            @JsonProperty("finish_reason") String finishReason) {
    }

    /**
     * OpenAI's completions log-probabilities, one entry per token (with echo the prompt's tokens come first, the
     * very first with null log-probability and null alternatives).
     *
     * @param tokens        each token as the text it adds
     * @param tokenLogprobs each token's log-probability under the model's raw distribution
     * @param topLogprobs   per position, the N most likely tokens' texts and log-probabilities, plus the token itself
     * @param textOffset    where each token starts in the choice's text, in characters (code points)
     * @param chat          the same entries in the chat completions' shape (not part of a completion's JSON)
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Logprobs(List<String> tokens,
            @JsonProperty("token_logprobs") List<Float> tokenLogprobs,
            @JsonProperty("top_logprobs") List<Map<String, Float>> topLogprobs,
            @JsonProperty("text_offset") List<Integer> textOffset,
            @JsonIgnore @Schema(hidden = true) List<ChatCompletionResponse.TokenLogprob> chat) {
    }

    public record Usage(@JsonProperty("prompt_tokens") int promptTokens,
            @JsonProperty("completion_tokens") int completionTokens,
            @JsonProperty("total_tokens") int totalTokens) {
    }
}

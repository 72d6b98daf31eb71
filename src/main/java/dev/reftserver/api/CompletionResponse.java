package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** OpenAI Completions response; streaming chunks share this shape with one choice's delta text each. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record CompletionResponse(String id, String object, long created, String model, List<Choice> choices,
        Usage usage) {

    /** @param finishReason {@code stop} or {@code length}; null in streaming chunks until the choice ends */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Choice(String text, int index, Object logprobs,
            @JsonProperty("finish_reason") String finishReason) {
    }

    public record Usage(@JsonProperty("prompt_tokens") int promptTokens,
            @JsonProperty("completion_tokens") int completionTokens,
            @JsonProperty("total_tokens") int totalTokens) {
    }
}

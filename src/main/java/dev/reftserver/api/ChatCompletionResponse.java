package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.List;

/** OpenAI Chat Completions response ({@code object: "chat.completion"}). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ChatCompletionResponse(String id, String object, long created, String model, List<Choice> choices,
        CompletionResponse.Usage usage) {

    /**
     * @param finishReason {@code stop} (a stop string or EOS) or {@code length}
     */
    // Named apart from the completions' Choice: OpenAPI schemas are keyed by simple name, and one would hide the other.
    @Schema(name = "ChatCompletionChoice")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Choice(int index, Message message, Logprobs logprobs,
            @JsonProperty("finish_reason") String finishReason) {
    }

    /**
     * A choice's log-probabilities (with {@code logprobs: true}): one entry per generated token, from the model's raw
     * distribution (before temperature, penalties and logit bias); {@code refusal} is always null.
     */
    @Schema(name = "ChatCompletionLogprobs")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Logprobs(List<TokenLogprob> content, List<TokenLogprob> refusal) {
    }

    /**
     * One generated token: the text it adds, its log-probability, the token's own bytes (a byte token's even where
     * it is half of a character; together the answer's UTF-8), and the
     * {@code top_logprobs} most likely tokens at its position, most likely first.
     */
    @Schema(name = "ChatCompletionTokenLogprob")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record TokenLogprob(String token, float logprob, List<Integer> bytes,
            @JsonProperty("top_logprobs") List<TopLogprob> topLogprobs) {
    }

    /** One of the most likely tokens at a position. */
    @Schema(name = "ChatCompletionTopLogprob")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record TopLogprob(String token, float logprob, List<Integer> bytes) {
    }

    /** The assistant's message. */
    public record Message(String role, String content) {
    }

    /**
     * One {@code chat.completion.chunk} of a stream: a choice's delta (its role first, then its content), the
     * choice's finish reason in a last delta, and with {@code stream_options.include_usage} a final chunk with no
     * choices and the usage.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Chunk(String id, String object, long created, String model, List<ChunkChoice> choices,
            CompletionResponse.Usage usage) {
    }

    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record ChunkChoice(int index, Delta delta, Logprobs logprobs,
            @JsonProperty("finish_reason") String finishReason) {
    }

    /** What a chunk adds to its choice's message; fields not in this chunk are left out. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Delta(String role, String content) {
    }
}

package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.List;
import java.util.Map;

/**
 * OpenAI's Response object ({@code object: "response"}): one assistant message of {@code output_text}, the request's
 * settings as used, and the usage. {@code status} is {@code completed}, {@code incomplete} (with
 * {@code incomplete_details.reason: "max_output_tokens"}) when the answer was cut at its token limit, or in a stream's
 * first events {@code in_progress}.
 */
@Schema(name = "Response")
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ResponsesResponse(String id, String object, @JsonProperty("created_at") long createdAt, String status,
        Error error, @JsonProperty("incomplete_details") IncompleteDetails incompleteDetails, String instructions,
        @JsonProperty("max_output_tokens") Integer maxOutputTokens, String model, List<OutputMessage> output,
        @JsonProperty("parallel_tool_calls") boolean parallelToolCalls,
        @JsonProperty("previous_response_id") String previousResponseId, Reasoning reasoning, boolean store,
        double temperature, Text text, @JsonProperty("tool_choice") String toolChoice, List<Object> tools,
        @JsonProperty("top_p") double topP, String truncation, Usage usage, String user,
        Map<String, String> metadata) {

    /** The assistant's message: one {@code output_text} part, or none before its first token. */
    @Schema(name = "ResponseOutputMessage")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record OutputMessage(String type, String id, String status, String role, List<OutputText> content) {
    }

    /**
     * The answer's text; {@code logprobs} per token (with {@code include: ["message.output_text.logprobs"]}), from the
     * model's raw distribution, each with its {@code top_logprobs}; empty otherwise.
     */
    @Schema(name = "ResponseOutputText")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record OutputText(String type, String text, List<Object> annotations,
            List<ChatCompletionResponse.TokenLogprob> logprobs) {
    }

    @Schema(name = "ResponseUsage")
    public record Usage(@JsonProperty("input_tokens") int inputTokens,
            @JsonProperty("input_tokens_details") InputDetails inputTokensDetails,
            @JsonProperty("output_tokens") int outputTokens,
            @JsonProperty("output_tokens_details") OutputDetails outputTokensDetails,
            @JsonProperty("total_tokens") int totalTokens) {

        static Usage of(CompletionResponse.Usage u) {
            return new Usage(u.promptTokens(), new InputDetails(0), u.completionTokens(), new OutputDetails(0),
                    u.totalTokens());
        }
    }

    @Schema(name = "ResponseInputTokensDetails")
    public record InputDetails(@JsonProperty("cached_tokens") int cachedTokens) {
    }

    @Schema(name = "ResponseOutputTokensDetails")
    public record OutputDetails(@JsonProperty("reasoning_tokens") int reasoningTokens) {
    }

    @Schema(name = "ResponseIncompleteDetails")
    public record IncompleteDetails(String reason) {
    }

    @Schema(name = "ResponseError")
    public record Error(String code, String message) {
    }

    @Schema(name = "ResponseReasoning")
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Reasoning(String effort, String summary) {
    }

    @Schema(name = "ResponseTextConfig")
    public record Text(Format format) {
    }

    @Schema(name = "ResponseTextFormat")
    public record Format(String type) {
    }
}

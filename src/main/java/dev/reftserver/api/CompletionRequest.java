package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.swagger.v3.oas.annotations.media.ArraySchema;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * OpenAI Completions request, plus the extensions {@code top_k}, {@code repetition_penalty}, {@code intervention}
 * and {@code interventions}. {@code prompt} may be a string, an array of strings, an array of token ids or an array
 * of such arrays; {@code stop} a string or an array of strings. A field this server does not know is refused with
 * 400 naming it (see {@link UnknownFields}), and fields it knows but does not implement are refused when set to
 * anything but their neutral value, so a client never silently gets something other than it asked for.
 */
public record CompletionRequest(
        @Schema(description = "A task, an intervention (`name[@version]`) or the base model id",
                example = "stories15M", requiredMode = Schema.RequiredMode.REQUIRED)
        String model,
        @Schema(description = "A string, an array of strings (one completion each), an array of token ids, or an "
                + "array of arrays of token ids. An empty string is one BOS token where the model adds one",
                implementation = Object.class, oneOf = {String.class, String[].class, int[].class, int[][].class},
                example = "Once upon a time", requiredMode = Schema.RequiredMode.REQUIRED)
        JsonNode prompt,
        @Schema(description = "Tokens to generate, default 16; 0 only with `echo` (score the prompt, generate nothing)")
        @JsonProperty("max_tokens") Integer maxTokens,
        @Schema(description = "Alias of `max_tokens` (give one of them, or both equal)")
        @JsonProperty("max_completion_tokens") Integer maxCompletionTokens,
        @Schema(description = "0 to 2, default 1; 0 is greedy") Double temperature,
        @Schema(description = "Nucleus sampling mass in [0, 1] (0: only the most likely token), default 1")
        @JsonProperty("top_p") Double topP,
        @Schema(description = "Extension: keep the k most likely tokens; 0 (default) disables it")
        @JsonProperty("top_k") Integer topK,
        @Schema(description = "Up to 4 stop strings: a string or an array of strings",
                implementation = Object.class, oneOf = {String.class, String[].class})
        JsonNode stop,
        @Schema(description = "Answer as Server-Sent Events") Boolean stream,
        @JsonProperty("stream_options") StreamOptions streamOptions,
        @Schema(description = "Makes sampling repeatable; the n samples get seed, seed + 1, ...") Long seed,
        @Schema(description = "Completions per prompt, default 1") Integer n,
        String user,
        @Schema(description = "Extension: an intervention `name[@version]` of the caller; overrides `model`")
        String intervention,
        @ArraySchema(arraySchema = @Schema(description = "Extension: a composition of the caller's interventions, "
                + "applied in this order at their layers, each edit scaled: h' = h + scale * (edit(h) - h). "
                + "Overrides `model`; not together with `intervention`"))
        List<InterventionRef> interventions,
        @Schema(description = "0 to 20: report the log-probability of each token and of the N most likely "
                + "alternatives at each position (raw model distribution, before temperature and penalties)")
        Integer logprobs,
        @Schema(description = "Prepend the prompt to the text; with `logprobs`, also report the prompt tokens' "
                + "log-probabilities (the first one null)")
        Boolean echo,
        @Schema(description = "Only 1 (the default) is supported") @JsonProperty("best_of") Integer bestOf,
        @Schema(description = "-2 to 2: subtracted from the logit of every token already generated")
        @JsonProperty("presence_penalty") Double presencePenalty,
        @Schema(description = "-2 to 2: subtracted from a token's logit once per time it was already generated")
        @JsonProperty("frequency_penalty") Double frequencyPenalty,
        @Schema(description = "Extension, Hugging Face semantics (> 0, 1 = off): the logit of every token of the "
                + "prompt or the generated text is divided by it when positive and multiplied by it when negative")
        @JsonProperty("repetition_penalty") Double repetitionPenalty,
        @Schema(description = "Token id (as a string) to a bias from -100 to 100 added to its logit before sampling",
                example = "{\"50256\": -100}")
        @JsonProperty("logit_bias") Map<String, Double> logitBias,
        @Schema(description = "Not supported unless empty") String suffix,
        @Schema(hidden = true) @JsonAnySetter Map<String, Object> unknown) {

    /** @param includeUsage add a final chunk with token usage */
    public record StreamOptions(@JsonProperty("include_usage") Boolean includeUsage,
            @Schema(hidden = true) @JsonAnySetter Map<String, Object> unknown) {
    }

    /**
     * Refuses the first field the request or its stream options do not declare (a composition's entries are
     * checked with the composition, {@link CompletionService#checkComposition}).
     */
    void rejectUnknownFields() {
        UnknownFields.reject(unknown, "");
        if (streamOptions != null) {
            UnknownFields.reject(streamOptions.unknown(), "stream_options.");
        }
    }
}

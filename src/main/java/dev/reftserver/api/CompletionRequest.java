package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.swagger.v3.oas.annotations.media.Schema;
import tools.jackson.databind.JsonNode;

/**
 * OpenAI Completions request, plus the extensions {@code top_k} and {@code intervention}. {@code prompt} and
 * {@code stop} may be a string or an array of strings. Fields this server does not implement are refused when set
 * to anything but their neutral value, so a client never silently gets something other than it asked for.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CompletionRequest(
        @Schema(description = "A task, an intervention (`name[@version]`) or the base model id",
                example = "stories15M", requiredMode = Schema.RequiredMode.REQUIRED)
        String model,
        @Schema(description = "A string, or an array of strings (one completion each)",
                implementation = Object.class, oneOf = {String.class, String[].class}, example = "Once upon a time",
                requiredMode = Schema.RequiredMode.REQUIRED)
        JsonNode prompt,
        @Schema(description = "Tokens to generate, default 16") @JsonProperty("max_tokens") Integer maxTokens,
        @Schema(description = "0 to 2, default 1; 0 is greedy") Double temperature,
        @Schema(description = "Nucleus sampling mass in (0, 1], default 1") @JsonProperty("top_p") Double topP,
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
        Integer logprobs,
        Boolean echo,
        @JsonProperty("best_of") Integer bestOf,
        @JsonProperty("presence_penalty") Double presencePenalty,
        @JsonProperty("frequency_penalty") Double frequencyPenalty,
        String suffix) {

    /** @param includeUsage add a final chunk with token usage */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record StreamOptions(@JsonProperty("include_usage") Boolean includeUsage) {
    }
}

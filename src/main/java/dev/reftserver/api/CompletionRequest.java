package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import tools.jackson.databind.JsonNode;

/**
 * OpenAI Completions request, plus the extensions {@code top_k} and {@code intervention}. {@code prompt} and
 * {@code stop} may be a string or an array of strings. Fields this server does not implement are refused when set
 * to anything but their neutral value, so a client never silently gets something other than it asked for.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CompletionRequest(
        String model,
        JsonNode prompt,
        @JsonProperty("max_tokens") Integer maxTokens,
        Double temperature,
        @JsonProperty("top_p") Double topP,
        @JsonProperty("top_k") Integer topK,
        JsonNode stop,
        Boolean stream,
        @JsonProperty("stream_options") StreamOptions streamOptions,
        Long seed,
        Integer n,
        String user,
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

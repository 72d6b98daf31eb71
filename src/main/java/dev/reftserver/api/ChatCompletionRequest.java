package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.error.ServiceException;
import io.swagger.v3.oas.annotations.media.ArraySchema;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * OpenAI Chat Completions request, plus the extensions {@code top_k}, {@code intervention} and
 * {@code interventions}. Fields this server
 * does not implement ({@code tools}, JSON response formats...) and fields it does not know are
 * refused with 400 naming the field, so a client never silently gets something other than it asked for.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ChatCompletionRequest(
        @Schema(description = "A task, an intervention (`name[@version]`) or the base model id",
                example = "stories15M", requiredMode = Schema.RequiredMode.REQUIRED)
        String model,
        @ArraySchema(arraySchema = @Schema(description = """
                The conversation: `system` (or `developer`), `user` and `assistant` messages. It is rendered with \
                the model's chat template, or, for an intervention that declares a `prompt_template`, the last \
                user message is rendered into that."""), schema = @Schema(implementation = Message.class),
                minItems = 1)
        List<Message> messages,
        @Schema(description = "Tokens to generate; default: up to the model's context")
        @JsonProperty("max_tokens") Integer maxTokens,
        @Schema(description = "The same as `max_tokens` (OpenAI's newer name); give one, or both equal")
        @JsonProperty("max_completion_tokens") Integer maxCompletionTokens,
        @Schema(description = "0 to 2, default 1; 0 is greedy") Double temperature,
        @Schema(description = "Nucleus sampling mass in [0, 1] (0: only the most likely token), default 1")
        @JsonProperty("top_p") Double topP,
        @Schema(description = "Extension: keep the k most likely tokens; 0 (default) disables it")
        @JsonProperty("top_k") Integer topK,
        @Schema(description = "Up to 4 stop strings: a string or an array of strings",
                implementation = Object.class, oneOf = {String.class, String[].class})
        JsonNode stop,
        @Schema(description = "Answer as Server-Sent Events of `chat.completion.chunk`s") Boolean stream,
        @JsonProperty("stream_options") CompletionRequest.StreamOptions streamOptions,
        @Schema(description = "Makes sampling repeatable; the n choices get seed, seed + 1, ...") Long seed,
        @Schema(description = "Choices to generate, default 1") Integer n,
        String user,
        @Schema(description = "Extension: an intervention `name[@version]` of the caller; overrides `model`")
        String intervention,
        @ArraySchema(arraySchema = @Schema(description = "Extension: a composition of the caller's interventions, "
                + "applied in this order at their layers, each edit scaled: h' = h + scale * (edit(h) - h). "
                + "Overrides `model`; not together with `intervention`"))
        List<InterventionRef> interventions,
        @JsonProperty("response_format") ResponseFormat responseFormat,
        @Schema(description = "Report each generated token's log-probability (raw model distribution, before "
                + "temperature, penalties and logit bias) in the choice's `logprobs.content`")
        Boolean logprobs,
        @Schema(description = "0 to 20 (needs `logprobs: true`): also report the N most likely tokens at each "
                + "position, most likely first")
        @JsonProperty("top_logprobs") Integer topLogprobs,
        @Schema(description = "Token id (as a string) to a bias from -100 to 100 added to its logit before sampling",
                example = "{\"29906\": -100}")
        @JsonProperty("logit_bias") Map<String, Double> logitBias,
        @Schema(description = "-2 to 2: subtracted from the logit of every token already generated")
        @JsonProperty("presence_penalty") Double presencePenalty,
        @Schema(description = "-2 to 2: subtracted from a token's logit once per time it was already generated")
        @JsonProperty("frequency_penalty") Double frequencyPenalty,
        @Schema(description = """
                Extension (as in vLLM): variables for the chat template, e.g. `{"enable_thinking": false}` for \
                Qwen3's. Not `messages`, `add_generation_prompt`, `tools`, `documents` or a `*_token` text.""",
                implementation = Object.class)
        @JsonProperty("chat_template_kwargs") Map<String, Object> chatTemplateKwargs) {

    /** One message; {@code content} is a string or an array of {@code {"type": "text", "text": ...}} parts. */
    @Schema(name = "ChatMessage")
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Message(
            @Schema(allowableValues = {"system", "developer", "user", "assistant"},
                    requiredMode = Schema.RequiredMode.REQUIRED) String role,
            @Schema(description = "A string, or an array of text parts (joined with newlines)",
                    implementation = Object.class, oneOf = {String.class, TextPart[].class},
                    requiredMode = Schema.RequiredMode.REQUIRED) Object content,
            @Schema(description = "An optional name of the participant, passed to the template") String name) {
    }

    @Schema(name = "ChatTextPart")
    public record TextPart(@Schema(allowableValues = "text") String type, String text) {
    }

    /** Only {@code {"type": "text"}}: JSON modes are not supported. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ResponseFormat(@Schema(allowableValues = "text") String type) {
    }

    /** The fields of a chat request this server reads. */
    static final Set<String> FIELDS = Set.of("model", "messages", "max_tokens", "max_completion_tokens",
            "temperature", "top_p", "top_k", "stop", "stream", "stream_options", "seed", "n", "user", "intervention",
            "interventions", "response_format", "logprobs", "top_logprobs", "logit_bias", "presence_penalty",
            "frequency_penalty", "chat_template_kwargs");

    /** Template variables the server sets itself, which {@code chat_template_kwargs} may not. */
    private static final Set<String> RESERVED_TEMPLATE_VARIABLES = Set.of("messages", "add_generation_prompt",
            "tools", "documents");

    /** OpenAI fields this server knows but does not implement for chat. */
    static final Set<String> UNSUPPORTED = Set.of("tools", "tool_choice", "functions", "function_call",
            "parallel_tool_calls", "audio", "modalities", "prediction", "store", "metadata",
            "service_tier", "reasoning_effort", "web_search_options", "verbosity", "best_of", "echo", "suffix");

    /**
     * OpenAI fields accepted only with the value that says what this server does anyway: {@code store: false} (it
     * keeps no completions) and {@code service_tier} {@code auto} or {@code default} (it has one tier). Any other
     * value is refused as unsupported.
     */
    static boolean describesThisServer(String name, JsonNode value) {
        return switch (name) {
            case "store" -> value.isBoolean() && !value.booleanValue();
            case "service_tier" -> value.isString() && Set.of("auto", "default").contains(value.stringValue());
            default -> false;
        };
    }

    /** What a message may hold. */
    private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content", "name");
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    /**
     * Reads a request body, refusing unknown and unsupported fields by name. A field sent as {@code null} counts as
     * not sent.
     */
    static ChatCompletionRequest parse(JsonNode body, JsonMapper json) {
        if (body == null || !body.isObject()) {
            throw ServiceException.invalidRequest(null, "the request body must be a JSON object");
        }
        for (Map.Entry<String, JsonNode> field : body.properties()) {
            String name = field.getKey();
            JsonNode value = field.getValue();
            if (value.isNull()) {
                continue;
            }
            if (describesThisServer(name, value)) {
                continue;
            }
            if (UNSUPPORTED.contains(name)) {
                throw ServiceException.invalidRequest(name, name + " " + (value.isValueNode() ? value + " " : "")
                        + "is not supported by this server");
            }
            if (!FIELDS.contains(name)) {
                throw ServiceException.invalidRequest(name, "unknown field '" + name + "'");
            }
        }
        templateMessages(body.get("messages"));
        templateVariables(body.get("chat_template_kwargs"));
        ChatCompletionRequest req;
        try {
            req = json.treeToValue(body, ChatCompletionRequest.class);
        } catch (JacksonException e) {
            throw ServiceException.invalidRequest(null, "invalid request: " + e.getOriginalMessage());
        }
        CompletionService.checkComposition(req.intervention(), req.interventions());
        if (req.topLogprobs() != null) {
            if (!Boolean.TRUE.equals(req.logprobs())) {
                throw ServiceException.invalidRequest("top_logprobs", "top_logprobs needs logprobs: true");
            }
            if (req.topLogprobs() < 0 || req.topLogprobs() > TokenLogprobs.MAX_TOP) {
                throw ServiceException.invalidRequest("top_logprobs", "top_logprobs must be between 0 and "
                        + TokenLogprobs.MAX_TOP + ", got " + req.topLogprobs());
            }
        }
        if (req.responseFormat() != null && !"text".equals(req.responseFormat().type())) {
            throw ServiceException.invalidRequest("response_format", "response_format type '"
                    + req.responseFormat().type() + "' is not supported (only text)");
        }
        if (req.maxTokens() != null && req.maxCompletionTokens() != null
                && !req.maxTokens().equals(req.maxCompletionTokens())) {
            throw ServiceException.invalidRequest("max_completion_tokens",
                    "max_tokens and max_completion_tokens disagree; give one");
        }
        return req;
    }

    /** Checks {@code chat_template_kwargs}: an object whose keys are no variable the server sets. */
    private static void templateVariables(JsonNode kwargs) {
        if (kwargs == null || kwargs.isNull()) {
            return;
        }
        if (!kwargs.isObject()) {
            throw ServiceException.invalidRequest("chat_template_kwargs", "chat_template_kwargs must be an object");
        }
        for (String name : kwargs.propertyNames()) {
            if (RESERVED_TEMPLATE_VARIABLES.contains(name) || name.endsWith("_token")) {
                throw ServiceException.invalidRequest("chat_template_kwargs." + name, "chat_template_kwargs." + name
                        + " is set by the server and cannot be given");
            }
        }
    }

    /** {@code max_completion_tokens}, else {@code max_tokens}; null when neither is given. */
    Integer maxTokensAsked() {
        return maxCompletionTokens != null ? maxCompletionTokens : maxTokens;
    }

    /**
     * The messages as a chat template sees them: {@code role}, {@code content} as text (text parts joined with
     * newlines) and {@code name} where given; {@code developer} becomes {@code system}, which templates know.
     */
    static List<Map<String, Object>> templateMessages(JsonNode messages) {
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ServiceException.invalidRequest("messages", "messages must be a non-empty array");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ServiceException.invalidRequest(where, where + " must be an object");
            }
            for (String f : m.propertyNames()) {
                if (!MESSAGE_FIELDS.contains(f) && !m.get(f).isNull()) {
                    throw ServiceException.invalidRequest(where + "." + f, where + "." + f + " is not supported");
                }
            }
            String role = m.path("role").asString(null);
            if (role == null || !ROLES.contains(role)) {
                throw ServiceException.invalidRequest(where + ".role", where + ".role must be one of system,"
                        + " developer, user, assistant" + (role == null ? "" : ", not '" + role + "'"));
            }
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", role.equals("developer") ? "system" : role);
            message.put("content", text(m.path("content"), where + ".content"));
            if (m.path("name").isString()) {
                message.put("name", m.path("name").asString());
            }
            out.add(message);
        }
        return out;
    }

    /** The text of the last user message (what a bundle's prompt template takes). */
    static String lastUserText(List<Map<String, Object>> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if ("user".equals(messages.get(i).get("role"))) {
                return (String) messages.get(i).get("content");
            }
        }
        throw ServiceException.invalidRequest("messages", "the intervention's prompt template needs a user message");
    }

    private static String text(JsonNode content, String where) {
        if (content.isString()) {
            return content.asString();
        }
        if (content.isArray() && !content.isEmpty()) {
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < content.size(); i++) {
                JsonNode part = content.get(i);
                if (!"text".equals(part.path("type").asString(null)) || !part.path("text").isString()) {
                    throw ServiceException.invalidRequest(where + "[" + i + "]", where + "[" + i
                            + "] must be {\"type\": \"text\", \"text\": \"...\"} (other content types are not"
                            + " supported)");
                }
                parts.add(part.path("text").asString());
            }
            return String.join("\n", parts);
        }
        throw ServiceException.invalidRequest(where, where + " must be a string or a non-empty array of text parts");
    }

    /**
     * The completion settings of a chat request body, as the completion service reads them; the prompt is given
     * separately as token ids.
     *
     * @param maxTokens the tokens to generate, already defaulted
     */
    static CompletionRequest completionRequest(JsonNode body, int maxTokens, JsonMapper json) {
        ObjectNode c = json.createObjectNode();
        for (String f : List.of("model", "temperature", "top_p", "top_k", "stop", "stream", "stream_options", "seed",
                "n", "user", "intervention", "interventions", "presence_penalty", "frequency_penalty", "logit_bias")) {
            if (body.has(f) && !body.get(f).isNull()) {
                c.set(f, body.get(f));
            }
        }
        c.put("max_tokens", maxTokens);
        if (body.path("logprobs").asBoolean(false)) {
            // a completion's logprobs is the number of alternatives; chat reports them with the same entries
            c.put("logprobs", body.path("top_logprobs").asInt(0));
        }
        try {
            return json.treeToValue(c, CompletionRequest.class);
        } catch (JacksonException e) {
            throw ServiceException.invalidRequest(null, "invalid request: " + e.getOriginalMessage());
        }
    }
}

package dev.reftserver.api;

import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.error.ServiceException;
import dev.reftserver.training.JobSpec;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * An OpenAI Responses request, read as the Chat Completions request it asks for: {@code instructions} become a
 * system message ahead of {@code input} (a string, or message items whose content is text), {@code max_output_tokens}
 * is {@code max_completion_tokens}, {@code include: ["message.output_text.logprobs"]} with {@code top_logprobs} asks
 * for log-probabilities, and the chat extensions ({@code top_k}, {@code seed}, {@code stop}, {@code intervention},
 * {@code interventions}, {@code chat_template_kwargs}) carry over. Responses are not stored, so what needs a stored
 * response or conversation ({@code previous_response_id}, {@code conversation}, {@code background}) is refused with
 * 400 naming the field, as are tools, reasoning, JSON formats and fields this server does not know.
 *
 * @param chat         the Chat Completions body it is answered as
 * @param instructions {@code instructions} as given, or null
 * @param maxOutputTokens {@code max_output_tokens} as given, or null
 * @param temperature  the sampling temperature used (1 when not given)
 * @param topP         the nucleus mass used (1 when not given)
 * @param metadata     {@code metadata} as given (empty when not given)
 * @param user         {@code user} as given, or null
 * @param logprobs     the answer carries each token's log-probabilities
 * @param stream       answer as Server-Sent Events
 */
record ResponsesRequest(ObjectNode chat, String instructions, Integer maxOutputTokens, double temperature,
        double topP, Map<String, String> metadata, String user, boolean logprobs, boolean stream) {

    /** What {@code include} may ask for. */
    static final String LOGPROBS = "message.output_text.logprobs";

    /** The fields this server reads. */
    private static final Set<String> FIELDS = Set.of("model", "input", "instructions", "max_output_tokens",
            "temperature", "top_p", "stream", "stream_options", "metadata", "user", "safety_identifier",
            "prompt_cache_key", "include", "top_logprobs", "text", "store", "service_tier", "truncation", "tools",
            "tool_choice", "top_k", "seed", "stop", "intervention", "interventions", "chat_template_kwargs");

    /** OpenAI fields this server knows but does not implement. */
    private static final Set<String> UNSUPPORTED = Set.of("previous_response_id", "conversation", "background",
            "prompt", "reasoning", "parallel_tool_calls", "max_tool_calls", "prompt_cache_retention");

    /** Fields copied into the chat body as they are. */
    private static final Set<String> CHAT_FIELDS = Set.of("model", "temperature", "top_p", "top_k", "seed", "stop",
            "intervention", "interventions", "chat_template_kwargs", "user", "service_tier");

    private static final Set<String> ROLES = Set.of("user", "assistant", "system", "developer");
    private static final Set<String> ITEM_FIELDS = Set.of("type", "role", "content", "id", "status");

    /** Reads a Responses body; refuses what it cannot answer with 400 naming the field. */
    static ResponsesRequest parse(JsonNode body, JsonMapper json) {
        if (body == null || !body.isObject()) {
            throw ServiceException.invalidRequest(null, "the request body must be a JSON object");
        }
        for (Map.Entry<String, JsonNode> field : body.properties()) {
            String name = field.getKey();
            JsonNode value = field.getValue();
            if (value.isNull()) {
                continue;
            }
            if (UNSUPPORTED.contains(name)) {
                throw ServiceException.invalidRequest(name, name + " is not supported by this server"
                        + (name.equals("previous_response_id") || name.equals("conversation")
                                ? " (responses are not stored: send the conversation in input)" : ""));
            }
            if (!FIELDS.contains(name)) {
                throw ServiceException.invalidRequest(name, "unknown field '" + name + "'");
            }
        }
        ObjectNode chat = json.createObjectNode();
        for (String f : CHAT_FIELDS) {
            if (body.has(f) && !body.get(f).isNull()) {
                chat.set(f, body.get(f));
            }
        }
        String instructions = text(body, "instructions");
        ArrayNode messages = chat.putArray("messages");
        if (instructions != null) {
            messages.addObject().put("role", "system").put("content", instructions);
        }
        input(body.get("input"), messages);
        Integer maxOutput = null;
        if (present(body, "max_output_tokens")) {
            JsonNode m = body.get("max_output_tokens");
            if (!m.isIntegralNumber() || !m.canConvertToInt() || m.intValue() < 1) {
                throw ServiceException.invalidRequest("max_output_tokens", "max_output_tokens must be a positive "
                        + "integer, got " + m);
            }
            maxOutput = m.intValue();
            chat.put("max_completion_tokens", maxOutput);
        }
        boolean stream = present(body, "stream") && flag(body, "stream");
        if (stream) {
            chat.put("stream", true);
            chat.putObject("stream_options").put("include_usage", true);
        }
        if (present(body, "stream_options")) {
            JsonNode o = body.get("stream_options");
            if (!o.isObject() || o.size() > 1 || (o.size() == 1 && !o.has("include_obfuscation"))
                    || o.path("include_obfuscation").asBoolean(false)) {
                throw ServiceException.invalidRequest("stream_options", "stream_options may only be "
                        + "{\"include_obfuscation\": false}: this server adds no obfuscation padding");
            }
        }
        boolean logprobs = include(body.get("include"));
        if (present(body, "top_logprobs")) {
            JsonNode t = body.get("top_logprobs");
            if (!t.isIntegralNumber() || t.asInt() < 0 || t.asInt() > TokenLogprobs.MAX_TOP) {
                throw ServiceException.invalidRequest("top_logprobs", "top_logprobs must be an integer from 0 to "
                        + TokenLogprobs.MAX_TOP + ", got " + t);
            }
            logprobs = true;
            chat.put("top_logprobs", t.asInt());
        }
        if (logprobs) {
            chat.put("logprobs", true);
        }
        checkFormat(body.get("text"));
        checkNoTools(body);
        only(body, "store", "false", v -> v.isBoolean() && !v.booleanValue());
        only(body, "truncation", "\"disabled\"", v -> v.isString() && v.asString().equals("disabled"));
        Map<String, String> metadata = JobSpec.metadata(body.path("metadata"));
        for (String f : new String[] {"user", "safety_identifier", "prompt_cache_key"}) {
            text(body, f);
        }
        return new ResponsesRequest(chat, instructions, maxOutput, number(body, "temperature"),
                number(body, "top_p"), metadata == null ? Map.of() : metadata, text(body, "user"), logprobs, stream);
    }

    /** Appends {@code input} (a string, or message items) to {@code messages} as chat messages. */
    private static void input(JsonNode input, ArrayNode messages) {
        if (input == null || input.isNull()) {
            throw ServiceException.invalidRequest("input", "input is required");
        }
        if (input.isString()) {
            messages.addObject().put("role", "user").put("content", input.asString());
            return;
        }
        if (!input.isArray() || input.isEmpty()) {
            throw ServiceException.invalidRequest("input", "input must be a string or a non-empty array of messages");
        }
        for (int i = 0; i < input.size(); i++) {
            JsonNode item = input.get(i);
            String where = "input[" + i + "]";
            if (!item.isObject()) {
                throw ServiceException.invalidRequest(where, where + " must be a message object");
            }
            String type = item.path("type").asString("message");
            if (!type.equals("message")) {
                throw ServiceException.invalidRequest(where + ".type", where + ".type '" + type
                        + "' is not supported (only messages: tools and reasoning are not)");
            }
            for (String f : item.propertyNames()) {
                if (!ITEM_FIELDS.contains(f) && !item.get(f).isNull()) {
                    throw ServiceException.invalidRequest(where + "." + f, where + "." + f + " is not supported");
                }
            }
            String role = item.path("role").asString(null);
            if (role == null || !ROLES.contains(role)) {
                throw ServiceException.invalidRequest(where + ".role", where + ".role must be one of user, "
                        + "assistant, system, developer" + (role == null ? "" : ", not '" + role + "'"));
            }
            ObjectNode m = messages.addObject().put("role", role);
            JsonNode content = item.get("content");
            if (content != null && content.isString()) {
                m.put("content", content.asString());
            } else if (content != null && content.isArray() && !content.isEmpty()) {
                ArrayNode parts = m.putArray("content");
                for (int j = 0; j < content.size(); j++) {
                    JsonNode part = content.get(j);
                    String kind = part.path("type").asString("");
                    if (!(kind.equals("input_text") || kind.equals("output_text")) || !part.path("text").isString()) {
                        throw ServiceException.invalidRequest(where + ".content[" + j + "]", where + ".content[" + j
                                + "] must be {\"type\": \"input_text\" (or \"output_text\"), \"text\": \"...\"}"
                                + (kind.isEmpty() ? "" : ": '" + kind + "' content is not supported (text only)"));
                    }
                    parts.addObject().put("type", "text").put("text", part.path("text").asString());
                }
            } else {
                throw ServiceException.invalidRequest(where + ".content", where + ".content must be a string or a "
                        + "non-empty array of text parts");
            }
        }
    }

    /** {@code include}: only {@link #LOGPROBS}; returns whether it is asked. */
    private static boolean include(JsonNode include) {
        if (include == null || include.isNull()) {
            return false;
        }
        if (!include.isArray()) {
            throw ServiceException.invalidRequest("include", "include must be an array");
        }
        boolean logprobs = false;
        for (int i = 0; i < include.size(); i++) {
            String what = include.get(i).asString("");
            if (!what.equals(LOGPROBS)) {
                throw ServiceException.invalidRequest("include[" + i + "]", "include[" + i + "] '" + what
                        + "' is not supported (only " + LOGPROBS + ")");
            }
            logprobs = true;
        }
        return logprobs;
    }

    /** {@code text}: only the plain text format. */
    private static void checkFormat(JsonNode text) {
        if (text == null || text.isNull()) {
            return;
        }
        if (!text.isObject()) {
            throw ServiceException.invalidRequest("text", "text must be an object");
        }
        for (String f : text.propertyNames()) {
            JsonNode v = text.get(f);
            if (v.isNull()) {
                continue;
            }
            if (!f.equals("format")) {
                throw ServiceException.invalidRequest("text." + f, "text." + f + " is not supported by this server");
            }
            String type = v.path("type").asString("");
            if (!type.equals("text") || v.size() != 1) {
                throw ServiceException.invalidRequest("text.format", "text.format type '" + type + "' is not "
                        + "supported (only {\"type\": \"text\"})");
            }
        }
    }

    /** {@code tools} empty and {@code tool_choice} none or auto: nothing to call. */
    private static void checkNoTools(JsonNode body) {
        JsonNode tools = body.get("tools");
        if (tools != null && !tools.isNull() && !(tools.isArray() && tools.isEmpty())) {
            throw ServiceException.invalidRequest("tools", "tools are not supported by this server");
        }
        JsonNode choice = body.get("tool_choice");
        if (choice != null && !choice.isNull() && !(choice.isString()
                && Set.of("none", "auto").contains(choice.asString()))) {
            throw ServiceException.invalidRequest("tool_choice", "tool_choice " + choice + " is not supported by "
                    + "this server (it has no tools)");
        }
    }

    private interface Check {
        boolean ok(JsonNode value);
    }

    /** A field accepted only with the value that says what this server does anyway. */
    private static void only(JsonNode body, String field, String value, Check check) {
        if (present(body, field) && !check.ok(body.get(field))) {
            throw ServiceException.invalidRequest(field, field + " " + body.get(field) + " is not supported by "
                    + "this server (only " + value + ")");
        }
    }

    private static boolean present(JsonNode body, String field) {
        return body.has(field) && !body.get(field).isNull();
    }

    private static boolean flag(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (!v.isBoolean()) {
            throw ServiceException.invalidRequest(field, field + " must be a boolean");
        }
        return v.booleanValue();
    }

    private static String text(JsonNode body, String field) {
        if (!present(body, field)) {
            return null;
        }
        if (!body.get(field).isString()) {
            throw ServiceException.invalidRequest(field, field + " must be a string");
        }
        return body.get(field).asString();
    }

    /** A sampling number as the chat request will read it (1 when not given; the chat check refuses bad ones). */
    private static double number(JsonNode body, String field) {
        return present(body, field) && body.get(field).isNumber() ? body.get(field).doubleValue() : 1.0;
    }
}

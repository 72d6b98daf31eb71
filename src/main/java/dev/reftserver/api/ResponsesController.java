package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.headers.Header;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.ExampleObject;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import jakarta.servlet.http.HttpServletResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestMethod;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code POST /v1/responses}: OpenAI Responses, answered as the Chat Completions request it asks for
 * ({@link ResponsesRequest}, {@link ChatCalls}): one assistant message, in one body or as the Responses API's named
 * stream events. Responses are not stored.
 */
@RestController
@Tag(name = "Responses", description = "OpenAI-compatible Responses (text in, text out), with the caller's "
        + "interventions")
public class ResponsesController {

    private final ChatCalls calls;
    private final JsonMapper json;

    public ResponsesController(ChatCalls calls, JsonMapper json) {
        this.calls = calls;
        this.json = json;
    }

    @Operation(summary = "Create a response", description = """
            OpenAI Responses. `model` resolves as for chat completions (a task, an intervention `name[@version]`, \
            the base model id; the extensions `intervention`, `interventions`, `top_k`, `seed`, `stop` and \
            `chat_template_kwargs` work as there). `input` is a string (one user message) or an array of messages \
            (`role` user, assistant, system or developer; `content` a string or `input_text`/`output_text` parts); \
            `instructions` go first as a system message; the conversation is rendered with the model's chat \
            template. `max_output_tokens`, `temperature`, `top_p`, `metadata` (echoed), `user`, and \
            `include: ["message.output_text.logprobs"]` with `top_logprobs` (0 to 20) are read. The answer is one \
            assistant message of `output_text`; `status` is `incomplete` with `incomplete_details.reason` \
            `max_output_tokens` where it was cut at its limit. With `stream: true` it comes as the Responses \
            stream's events (`response.created`, `response.in_progress`, `response.output_item.added`, \
            `response.content_part.added`, `response.output_text.delta`..., `response.output_text.done`, \
            `response.content_part.done`, `response.output_item.done`, then `response.completed` or \
            `response.incomplete` with the usage; `error` and `response.failed` if generation fails), each with \
            its `sequence_number`. Responses are not stored: `store` must be false or left out, and \
            `previous_response_id`, `conversation` and `background` are refused; so are tools, reasoning, JSON \
            formats, non-text content and fields this server does not know (400 naming the field).""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = MediaType.APPLICATION_JSON_VALUE, schema = @Schema(type = "object"),
            examples = {
                @ExampleObject(name = "base", summary = "Greedy answer from the base model", value = """
                        {"model": "stories15M", "input": "Tell me a story.", "max_output_tokens": 40,
                         "temperature": 0}"""),
                @ExampleObject(name = "intervention", summary = "An intervention, streamed", value = """
                        {"model": "sentiment@2", "instructions": "You are a storyteller for children.",
                         "input": [{"role": "user", "content": [{"type": "input_text", "text": "A dog."}]}],
                         "max_output_tokens": 64, "stream": true}""")
            }))
    @ApiResponse(responseCode = "200", description = "The response, or its stream of events",
            headers = @Header(name = CompletionController.INTERVENTION_HEADER, schema = @Schema(type = "string"),
                    description = "What was applied: `name@version`, `none` for the base model, or a composition's"
                            + " members"),
            content = {
                @Content(mediaType = MediaType.APPLICATION_JSON_VALUE,
                        schema = @Schema(implementation = ResponsesResponse.class)),
                @Content(mediaType = MediaType.TEXT_EVENT_STREAM_VALUE, schema = @Schema(type = "string"),
                        examples = @ExampleObject(value = """
                                event: response.output_text.delta
                                data: {"type":"response.output_text.delta","sequence_number":4,\
                                "item_id":"msg_1","output_index":0,"content_index":0,"delta":"Once","logprobs":[]}

                                """))
            })
    @ApiResponse(responseCode = "400", description = """
            Invalid request (the error's `param` names the field), a model without a chat template, or a \
            conversation the chat template rejects""",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "404", description = "`model` or an intervention names nothing the caller can use",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "429", description = "The tenant's request or token rate limit; see `Retry-After`",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "503", description = "The queue is full, or the engine is warming up or draining",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @PostMapping(path = "/v1/responses", consumes = MediaType.APPLICATION_JSON_VALUE)
    public CompletableFuture<Object> create(@RequestBody JsonNode body, HttpServletResponse response) {
        ResponsesRequest req = ResponsesRequest.parse(body, json);
        ChatCalls.Started started;
        try {
            started = calls.start(req.chat());
        } catch (ServiceException e) {
            throw named(e);
        }
        CompletionCall call = started.call();
        Answer answer = new Answer(req, call);
        if (req.stream()) {
            StreamingResponseBody stream = out -> SseStream.drainEvents(call, answer.opening(), answer, out,
                    response, json);
            response.setHeader(CompletionController.INTERVENTION_HEADER, started.target().appliedId());
            SseStream.prepare(response);
            return CompletableFuture.completedFuture(stream);
        }
        return call.result.thenApply(r -> ResponseEntity.ok().header(CompletionController.INTERVENTION_HEADER,
                started.target().appliedId()).body(answer.whole(r)));
    }

    @Operation(summary = "Retrieve, delete or list the input of a stored response: none are stored",
            description = "Responses are not stored (`store` is always false), so every id is 404 `not_found`.")
    @ApiResponse(responseCode = "404", description = "No response is stored under any id",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @RequestMapping(path = {"/v1/responses/{id}", "/v1/responses/{id}/input_items", "/v1/responses/{id}/cancel"},
            method = {RequestMethod.GET, RequestMethod.DELETE, RequestMethod.POST})
    public ResponseEntity<ErrorBody> stored(@PathVariable String id) {
        throw ServiceException.notFound("id", "response '" + id + "' not found: this server does not store "
                + "responses (store is always false)");
    }

    /** A refusal of the chat request it was answered as, naming the Responses field it came from. */
    static ServiceException named(ServiceException e) {
        String p = e.param();
        if (e.getClass() != ServiceException.class || p == null) {
            return e;
        }
        String field = p.equals("messages") || p.startsWith("messages[") ? "input"
                : p.equals("max_completion_tokens") || p.equals("max_tokens") ? "max_output_tokens"
                : p.equals("logprobs") ? "include" : p;
        String message = e.getMessage().replace("max_completion_tokens", "max_output_tokens");
        return field.equals(p) ? e : new ServiceException(e.status(), e.type(), field, e.code(),
                field.equals("input") && message.startsWith("messages ") ? "input " + message.substring(9) : message);
    }

    /** One response: its whole body, or its stream's events in order, each numbered. */
    static final class Answer implements SseStream.Events {

        private final ResponsesRequest req;
        private final CompletionCall call;
        private final String id;
        private final String itemId;
        private final StringBuilder text = new StringBuilder();
        private final List<ChatCompletionResponse.TokenLogprob> logprobs = new ArrayList<>();
        private String finishReason;
        private int sequence;

        Answer(ResponsesRequest req, CompletionCall call) {
            this.req = req;
            this.call = call;
            String hex = call.id.substring(call.id.indexOf('-') + 1);
            this.id = "resp_" + hex;
            this.itemId = "msg_" + hex;
        }

        /** The whole response, from the call's collected result. */
        ResponsesResponse whole(CompletionResponse r) {
            CompletionResponse.Choice c = r.choices().get(0);
            text.append(c.text());
            if (c.logprobs() != null) {
                logprobs.addAll(c.logprobs().chat());
            }
            finishReason = c.finishReason();
            return response(finalStatus(), List.of(message(finalStatus())), ResponsesResponse.Usage.of(r.usage()),
                    null);
        }

        /** The stream's first events, before any token. */
        List<Object> opening() {
            ResponsesResponse started = response("in_progress", List.of(), null, null);
            return List.of(event("response.created", "response", started),
                    event("response.in_progress", "response", started),
                    event("response.output_item.added", "output_index", 0, "item",
                            new ResponsesResponse.OutputMessage("message", itemId, "in_progress", "assistant",
                                    List.of())),
                    event("response.content_part.added", "item_id", itemId, "output_index", 0, "content_index", 0,
                            "part", new ResponsesResponse.OutputText("output_text", "", List.of(), List.of())));
        }

        @Override
        public List<?> of(Object event) {
            if (event instanceof ErrorBody e) {
                return List.of(event("error", "code", e.error().code(), "message", e.error().message(), "param",
                        e.error().param()), event("response.failed", "response", response("failed", List.of(),
                                null, new ResponsesResponse.Error(e.error().code(), e.error().message()))));
            }
            CompletionResponse r = (CompletionResponse) event;
            if (r.choices().isEmpty()) {
                // The usage, after the choice's end: the last event.
                String status = finalStatus();
                return List.of(event(status.equals("completed") ? "response.completed" : "response.incomplete",
                        "response", response(status, List.of(message(status)),
                                ResponsesResponse.Usage.of(r.usage()), null)));
            }
            CompletionResponse.Choice c = r.choices().get(0);
            List<ChatCompletionResponse.TokenLogprob> lp = c.logprobs() == null ? List.of() : c.logprobs().chat();
            List<Object> out = new ArrayList<>();
            if (!c.text().isEmpty() || !lp.isEmpty()) {
                text.append(c.text());
                logprobs.addAll(lp);
                out.add(event("response.output_text.delta", "item_id", itemId, "output_index", 0, "content_index", 0,
                        "delta", c.text(), "logprobs", lp));
            }
            if (c.finishReason() != null) {
                finishReason = c.finishReason();
                out.add(event("response.output_text.done", "item_id", itemId, "output_index", 0, "content_index", 0,
                        "text", text.toString(), "logprobs", List.copyOf(logprobs)));
                out.add(event("response.content_part.done", "item_id", itemId, "output_index", 0, "content_index", 0,
                        "part", part()));
                out.add(event("response.output_item.done", "output_index", 0, "item", message(finalStatus())));
            }
            return out;
        }

        @Override
        public String name(Object event) {
            return (String) ((Map<?, ?>) event).get("type");
        }

        @Override
        public boolean doneMarker() {
            return false;
        }

        /** {@code incomplete} where the answer was cut at its token limit, else {@code completed}. */
        private String finalStatus() {
            return "length".equals(finishReason) ? "incomplete" : "completed";
        }

        private ResponsesResponse.OutputText part() {
            return new ResponsesResponse.OutputText("output_text", text.toString(), List.of(), List.copyOf(logprobs));
        }

        private ResponsesResponse.OutputMessage message(String status) {
            return new ResponsesResponse.OutputMessage("message", itemId, status, "assistant", List.of(part()));
        }

        private ResponsesResponse response(String status, List<ResponsesResponse.OutputMessage> output,
                ResponsesResponse.Usage usage, ResponsesResponse.Error error) {
            return new ResponsesResponse(id, "response", call.created, status, error,
                    status.equals("incomplete") ? new ResponsesResponse.IncompleteDetails("max_output_tokens") : null,
                    req.instructions(), req.maxOutputTokens(), call.model, output, false, null,
                    new ResponsesResponse.Reasoning(null, null), false, req.temperature(),
                    new ResponsesResponse.Text(new ResponsesResponse.Format("text")), "auto", List.of(), req.topP(),
                    "disabled", usage, req.user(), req.metadata());
        }

        /** A stream event: its type, its number, then the given fields. */
        private Map<String, Object> event(String type, Object... fields) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("type", type);
            e.put("sequence_number", sequence++);
            for (int i = 0; i < fields.length; i += 2) {
                e.put((String) fields[i], fields[i + 1]);
            }
            return e;
        }
    }
}

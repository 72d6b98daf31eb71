package dev.reftserver.api;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.chat.ChatTemplateException;
import dev.reftserver.config.BaseModel;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.error.ServiceException;
import dev.reftserver.tenant.RateLimiter;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.headers.Header;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.ExampleObject;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import jakarta.servlet.http.HttpServletResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code POST /v1/chat/completions}: OpenAI Chat Completions. The conversation is rendered to token ids (the
 * model's chat template, or the intervention's prompt template) and generated exactly as a completion of those ids,
 * so models, interventions, tenancy, limits and sampling behave as on {@code /v1/completions}.
 */
@RestController
@Tag(name = "Chat", description = "OpenAI-compatible chat completions, with the caller's interventions")
public class ChatCompletionController {

    private final CompletionService completions;
    private final CompletionTargets targets;
    private final CallerTenant caller;
    private final JsonMapper json;
    private final RateLimiter limits;
    private final ChatPrompts prompts;
    private final Scheduler scheduler;
    private final BaseModel base;

    public ChatCompletionController(CompletionService completions, CompletionTargets targets, CallerTenant caller,
            JsonMapper json, RateLimiter limits, ChatPrompts prompts, Scheduler scheduler, BaseModel base) {
        this.completions = completions;
        this.targets = targets;
        this.caller = caller;
        this.json = json;
        this.limits = limits;
        this.prompts = prompts;
        this.scheduler = scheduler;
        this.base = base;
    }

    @Operation(summary = "Create a chat completion", description = """
            OpenAI Chat Completions. `model` resolves as for completions: a task of the caller, an intervention of \
            the caller (`name` or `name@version`), then the base model id; `intervention` names one explicitly and \
            `interventions` composes several with scales, as for completions (a composition renders with the chat \
            template). \
            The messages are rendered with the model's chat template (as transformers' `apply_chat_template` with \
            `add_generation_prompt`), and interventions apply at positions of the rendered prompt's tokens; an \
            intervention that declares a `prompt_template` gets the last user message rendered into that instead. \
            A model without a chat template answers 400 (`reft.model.chat-template` sets one). With \
            `stream: true` the answer is Server-Sent Events: a `chat.completion.chunk` with each choice's role, \
            then content deltas, a last delta with `finish_reason`, the usage with \
            `stream_options.include_usage`, then `data: [DONE]`. With `logprobs: true` each choice (and each \
            chunk that reports tokens) carries `logprobs.content`: per token its text, log-probability and own \
            bytes, and the `top_logprobs` most likely tokens (0 to 20), from the model's raw distribution. \
            `logit_bias` biases token ids as for completions. `tools`, function calling, JSON response formats \
            and fields this server does not know are refused with 400 naming the field.""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = MediaType.APPLICATION_JSON_VALUE,
            schema = @Schema(implementation = ChatCompletionRequest.class),
            examples = {
                @ExampleObject(name = "base", summary = "Greedy answer from the base model", value = """
                        {"model": "stories15M", "messages": [{"role": "user", "content": "Tell me a story."}],
                         "max_tokens": 40, "temperature": 0}"""),
                @ExampleObject(name = "intervention", summary = "An intervention, streamed with usage", value = """
                        {"model": "sentiment@2", "messages": [
                           {"role": "system", "content": "You are a storyteller for children."},
                           {"role": "user", "content": [{"type": "text", "text": "A story about a dog."}]}],
                         "max_completion_tokens": 64, "temperature": 0.8, "seed": 7, "stream": true,
                         "stream_options": {"include_usage": true}}""")
            }))
    @ApiResponse(responseCode = "200", description = "The chat completion, or its stream of chunks",
            headers = @Header(name = CompletionController.INTERVENTION_HEADER, schema = @Schema(type = "string"),
                    description = "What was applied: `name@version`, `none` for the base model, or a composition's"
                            + " members as `a@1;scale=1.0,b@2;scale=-0.5`"),
            content = {
                @Content(mediaType = MediaType.APPLICATION_JSON_VALUE,
                        schema = @Schema(implementation = ChatCompletionResponse.class),
                        examples = @ExampleObject(value = """
                                {"id": "chatcmpl-1222282e8a39498d8a93dfe9ad59b1b2", "object": "chat.completion",
                                 "created": 1795674256, "model": "stories15M",
                                 "choices": [{"index": 0, "message": {"role": "assistant",
                                              "content": "Once upon a time, there was a little girl."},
                                              "logprobs": null, "finish_reason": "length"}],
                                 "usage": {"prompt_tokens": 25, "completion_tokens": 10, "total_tokens": 35}}""")),
                @Content(mediaType = MediaType.TEXT_EVENT_STREAM_VALUE, schema = @Schema(type = "string"),
                        examples = @ExampleObject(value = """
                                data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795674256,\
                                "model":"stories15M","choices":[{"index":0,"delta":{"role":"assistant",\
                                "content":""},"logprobs":null,"finish_reason":null}]}

                                data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795674256,\
                                "model":"stories15M","choices":[{"index":0,"delta":{"content":"Once"},\
                                "logprobs":null,"finish_reason":null}]}

                                data: [DONE]

                                """))
            })
    @ApiResponse(responseCode = "400", description = """
            Invalid request (the error's `param` names the field), a model without a chat template, or a \
            conversation the chat template rejects (its own message)""",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "404", description = """
            `model`, `intervention` or an entry of `interventions` names nothing the caller can use""",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "429", description = "The tenant's request or token rate limit; see `Retry-After`",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "503", description = "The queue is full, or the engine is warming up or draining",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @PostMapping(path = "/v1/chat/completions", consumes = MediaType.APPLICATION_JSON_VALUE)
    public CompletableFuture<Object> chat(@RequestBody JsonNode body, HttpServletResponse response) {
        ChatCompletionRequest req = ChatCompletionRequest.parse(body, json);
        if (req.model() == null || req.model().isBlank()) {
            throw ServiceException.invalidRequest("model", "model is required");
        }
        List<Map<String, Object>> messages = ChatCompletionRequest.templateMessages(body.get("messages"));
        // The conversation is bounded like a completion prompt before a template renders it or a tokenizer reads it.
        StringBuilder text = new StringBuilder();
        for (Map<String, Object> m : messages) {
            text.append(m.get("content"));
        }
        if (req.chatTemplateKwargs() != null) {
            // what a template may print of its variables counts like the messages
            text.append(body.get("chat_template_kwargs"));
        }
        completions.checkPromptBytes(List.of(text.toString()), "messages");
        String tenant = caller.tenant();
        limits.checkRequest(tenant);
        limits.checkTokens(tenant);
        CompletionTargets.Target target = targets.resolve(tenant, ChatCompletionRequest.completionRequest(body, 1, json));
        CompletionCall call;
        try {
            int[] prompt = prompt(messages, req.chatTemplateKwargs(), target);
            int context = scheduler.maxContext();
            if (prompt.length >= context) {
                throw ServiceException.invalidRequest("messages", "the rendered conversation has " + prompt.length
                        + " tokens; the model's context is " + context);
            }
            int maxTokens = req.maxTokensAsked() != null ? req.maxTokensAsked() : context - prompt.length;
            if (maxTokens >= 1 && prompt.length + maxTokens > context) {
                String field = req.maxCompletionTokens() != null ? "max_completion_tokens" : "max_tokens";
                throw ServiceException.invalidRequest(field, "the rendered conversation has " + prompt.length
                        + " tokens; with " + field + " " + maxTokens + " that exceeds the model's context of "
                        + context + " tokens");
            }
            CompletionRequest settings = ChatCompletionRequest.completionRequest(body, maxTokens, json);
            // From here the rows own the bundles' lease: the engine releases it when the last of them finishes.
            call = completions.startEncoded(tenant, settings, List.of(prompt), target.bundles(), target.lease(),
                    n -> limits.recordTokens(tenant, n));
        } catch (RuntimeException e) {
            target.release();
            throw e;
        }
        String id = "chatcmpl-" + call.id.substring(call.id.indexOf('-') + 1);
        if (call.stream) {
            // Each choice's role goes first, then its deltas.
            List<ChatCompletionResponse.Chunk> roles = new ArrayList<>(call.choiceCount());
            for (int i = 0; i < call.choiceCount(); i++) {
                roles.add(chunk(call, id, new ChatCompletionResponse.ChunkChoice(i,
                        new ChatCompletionResponse.Delta("assistant", ""), null, null), null));
            }
            StreamingResponseBody stream = out -> SseStream.drain(call, roles, r -> chunk(call, id, r), out, response,
                    json);
            response.setHeader(CompletionController.INTERVENTION_HEADER, target.appliedId());
            SseStream.prepare(response);
            return CompletableFuture.completedFuture(stream);
        }
        return call.result
                .thenApply(r -> ResponseEntity.ok().header(CompletionController.INTERVENTION_HEADER,
                        target.appliedId()).body(message(r, id)));
    }

    /**
     * The prompt's token ids: the intervention's prompt template if it declares one, else the chat template. A
     * composition renders with the chat template: its members' templates may disagree, and none speaks for all.
     */
    private int[] prompt(List<Map<String, Object>> messages, Map<String, Object> variables,
            CompletionTargets.Target target) {
        String promptTemplate = target.bundles().size() == 1 ? target.bundles().get(0).bundle().promptTemplate()
                : null;
        if (promptTemplate != null) {
            return prompts.fill(promptTemplate, ChatCompletionRequest.lastUserText(messages)).ids();
        }
        if (!prompts.hasTemplate()) {
            throw new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", "model", "no_chat_template",
                    "the model " + base.id() + " has no chat template: set reft.model.chat-template to a template"
                            + " file, or use /v1/completions");
        }
        try {
            return prompts.render(messages, true, variables).ids();
        } catch (ChatTemplateException e) {
            throw new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", "messages",
                    e.raisedByTemplate() ? "chat_template_rejected" : "chat_template_error", e.getMessage());
        }
    }

    private static ChatCompletionResponse message(CompletionResponse r, String id) {
        List<ChatCompletionResponse.Choice> choices = new ArrayList<>(r.choices().size());
        for (CompletionResponse.Choice c : r.choices()) {
            choices.add(new ChatCompletionResponse.Choice(c.index(),
                    new ChatCompletionResponse.Message("assistant", c.text()), logprobs(c.logprobs(), true),
                    c.finishReason()));
        }
        return new ChatCompletionResponse(id, "chat.completion", r.created(), r.model(), choices, r.usage());
    }

    /** A completion chunk as a chat chunk: its text as a content delta, a finish as an empty delta. */
    private static ChatCompletionResponse.Chunk chunk(CompletionCall call, String id, CompletionResponse r) {
        if (r.choices().isEmpty()) {
            return new ChatCompletionResponse.Chunk(id, "chat.completion.chunk", call.created, call.model, List.of(),
                    r.usage());
        }
        CompletionResponse.Choice c = r.choices().get(0);
        ChatCompletionResponse.Delta delta = c.finishReason() != null && c.text().isEmpty()
                ? new ChatCompletionResponse.Delta(null, null) : new ChatCompletionResponse.Delta(null, c.text());
        return chunk(call, id, new ChatCompletionResponse.ChunkChoice(c.index(), delta, logprobs(c.logprobs(), false),
                c.finishReason()), r.usage());
    }

    /**
     * A completion choice's log-probabilities in the chat shape: null without {@code logprobs}, and in a stream
     * also for a chunk that reports no token.
     */
    private static ChatCompletionResponse.Logprobs logprobs(CompletionResponse.Logprobs lp, boolean whole) {
        if (lp == null || (!whole && lp.chat().isEmpty())) {
            return null;
        }
        return new ChatCompletionResponse.Logprobs(lp.chat(), null);
    }

    private static ChatCompletionResponse.Chunk chunk(CompletionCall call, String id,
            ChatCompletionResponse.ChunkChoice choice, CompletionResponse.Usage usage) {
        return new ChatCompletionResponse.Chunk(id, "chat.completion.chunk", call.created, call.model,
                List.of(choice), usage);
    }
}

package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import jakarta.servlet.http.HttpServletResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import dev.reftserver.tenant.RateLimiter;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.headers.Header;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.ExampleObject;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;
import tools.jackson.databind.json.JsonMapper;

/** {@code POST /v1/completions}: OpenAI Completions, as one JSON body or as Server-Sent Events. */
@RestController
@Tag(name = "Completions", description = "OpenAI-compatible text completions, with the caller's interventions")
public class CompletionController {

    static final String INTERVENTION_HEADER = "X-Reft-Intervention";

    private final CompletionService completions;
    private final CompletionTargets targets;
    private final CallerTenant caller;
    private final JsonMapper json;
    private final RateLimiter limits;

    public CompletionController(CompletionService completions, CompletionTargets targets, CallerTenant caller,
            JsonMapper json, RateLimiter limits) {
        this.limits = limits;
        this.completions = completions;
        this.targets = targets;
        this.caller = caller;
        this.json = json;
    }

    @Operation(summary = "Create a completion", description = """
            OpenAI Completions. `model` resolves in order to a task of the caller, an intervention of the caller \
            (`name` or `name@version`), then the base model id; `intervention` names one explicitly and \
            `interventions` composes several, each with a `scale` (applied in the listed order at their layers, \
            each edit as h + scale * (edit(h) - h)); both override `model`. `prompt` takes a string, an array of \
            strings, an array of token ids or an array of such arrays; `stop` a string or an array of strings. \
            `logprobs: N` (0 to 20) reports each token's log-probability under the model's raw distribution and the \
            N most likely alternatives (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`); `echo` prepends \
            the prompt, and with `logprobs` scores its tokens too (the first is null); `max_tokens: 0` is allowed \
            only with `echo`. `presence_penalty` and `frequency_penalty` (OpenAI), `repetition_penalty` (Hugging \
            Face) and `logit_bias` edit the logits before sampling. With `stream: true` the answer is Server-Sent \
            Events: `data: {chunk}` per text delta (with the log-probabilities of its tokens), then \
            `data: [DONE]`. A field the server does not know is refused with 400 naming it in `param`; `best_of` > \
            1 and `suffix` are refused too.""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = MediaType.APPLICATION_JSON_VALUE,
            schema = @Schema(implementation = CompletionRequest.class),
            examples = {
                @ExampleObject(name = "base", summary = "Greedy completion from the base model", value = """
                        {"model": "stories15M", "prompt": "Once upon a time", "max_tokens": 40, "temperature": 0}"""),
                @ExampleObject(name = "task", summary = "A task of the caller, sampled with a seed, streamed",
                        value = """
                        {"model": "summarize", "prompt": ["The little dog", "One day"], "max_tokens": 64,
                         "temperature": 0.8, "top_p": 0.95, "top_k": 40, "seed": 7, "stop": ["\\n\\n"],
                         "stream": true, "stream_options": {"include_usage": true}}"""),
                @ExampleObject(name = "intervention", summary = "An intervention version named explicitly",
                        value = """
                        {"model": "stories15M", "intervention": "sentiment@2", "prompt": "Tom was",
                         "max_tokens": 32}"""),
                @ExampleObject(name = "composition", summary = "Two interventions composed, one reversed at half scale",
                        value = """
                        {"model": "stories15M", "prompt": "Tom was", "max_tokens": 32,
                         "interventions": [{"name": "sentiment@2", "scale": 1.0}, {"name": "formal", "scale": -0.5}]}"""),
                @ExampleObject(name = "loglikelihood", summary = "Score a prompt (lm-evaluation-harness)",
                        value = """
                        {"model": "stories15M", "prompt": [[1, 9038, 2501, 263, 931]], "echo": true, "logprobs": 10,
                         "max_tokens": 0, "temperature": 0}""")
            }))
    @ApiResponse(responseCode = "200", description = "The completion, or its stream of chunks",
            headers = @Header(name = INTERVENTION_HEADER, schema = @Schema(type = "string"),
                    description = "What was applied: `name@version`, `none` for the base model, or a composition's"
                            + " members as `a@1;scale=1.0,b@2;scale=-0.5`"),
            content = {
                @Content(mediaType = MediaType.APPLICATION_JSON_VALUE,
                        schema = @Schema(implementation = CompletionResponse.class),
                        examples = @ExampleObject(value = """
                                {"id": "cmpl-1222282e8a39498d8a93dfe9ad59b1b2", "object": "text_completion",
                                 "created": 1795674256, "model": "stories15M",
                                 "choices": [{"text": ", there was a little girl named Lily.", "index": 0,
                                              "logprobs": null, "finish_reason": "length"}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15}}""")),
                @Content(mediaType = MediaType.TEXT_EVENT_STREAM_VALUE, schema = @Schema(type = "string"),
                        examples = @ExampleObject(value = """
                                data: {"id":"cmpl-1","object":"text_completion","created":1795674256,\
                                "model":"stories15M","choices":[{"text":", there","index":0,"logprobs":null,\
                                "finish_reason":null}]}

                                data: [DONE]

                                """))
            })
    @ApiResponse(responseCode = "400", description = "Invalid request (the error's `param` names the field)",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "404", description = "`model` or `intervention` names nothing the caller can use",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "429", description = "The tenant's request or token rate limit; see `Retry-After`",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "503", description = "The queue is full, or the engine is warming up or draining",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @PostMapping(path = "/v1/completions", consumes = MediaType.APPLICATION_JSON_VALUE)
    public CompletableFuture<Object> complete(@RequestBody CompletionRequest req, HttpServletResponse response) {
        CompletionService.checkSelection(req);
        if (req.model() == null || req.model().isBlank()) {
            throw ServiceException.invalidRequest("model", "model is required");
        }
        String tenant = caller.tenant();
        limits.checkRequest(tenant);
        limits.checkTokens(tenant);
        CompletionTargets.Target target = targets.resolve(tenant, req);
        CompletionCall call;
        try {
            // From here the rows own the bundles' lease: the engine releases it when the last of them finishes,
            // not when the response ends (a client that leaves mid-prefill must not free arrays still in use).
            call = completions.start(tenant, req, target.bundles(), target.lease(),
                    n -> limits.recordTokens(tenant, n));
        } catch (RuntimeException e) {
            target.release();
            throw e;
        }
        if (call.stream) {
            StreamingResponseBody body = out -> SseStream.drain(call, List.of(), r -> r, out, response, json);
            // Returned through a future so MVC picks the handler by the body's runtime type (a stream here, a
            // JSON entity below) while one mapping serves both shapes.
            response.setHeader(INTERVENTION_HEADER, target.appliedId());
            SseStream.prepare(response);
            return CompletableFuture.completedFuture(body);
        }
        return call.result
                .thenApply(r -> ResponseEntity.ok().header(INTERVENTION_HEADER, target.appliedId()).body(r));
    }
}

package dev.reftserver.api;

import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import dev.reftserver.tenant.RateLimiter;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;
import tools.jackson.databind.json.JsonMapper;

/** {@code POST /v1/completions}: OpenAI Completions, as one JSON body or as Server-Sent Events. */
@RestController
public class CompletionController {

    static final String INTERVENTION_HEADER = "X-Reft-Intervention";
    private static final long KEEPALIVE_MS = 1000;

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

    @PostMapping(path = "/v1/completions", consumes = MediaType.APPLICATION_JSON_VALUE)
    public CompletableFuture<Object> complete(@RequestBody CompletionRequest req, HttpServletResponse response) {
        if (req.model() == null || req.model().isBlank()) {
            throw ApiException.invalidRequest("model", "model is required");
        }
        String tenant = caller.tenant();
        limits.checkRequest(tenant);
        limits.checkTokens(tenant);
        CompletionTargets.Target target = targets.resolve(tenant, req);
        CompletionCall call;
        try {
            call = completions.start(tenant, req, target.bundle(), n -> limits.recordTokens(tenant, n));
        } catch (RuntimeException e) {
            target.release();
            throw e;
        }
        if (call.stream) {
            StreamingResponseBody body = out -> {
                try {
                    stream(call, out);
                } finally {
                    target.release();
                }
            };
            // Returned through a future so MVC picks the handler by the body's runtime type (a stream here, a
            // JSON entity below) while one mapping serves both shapes.
            response.setHeader(INTERVENTION_HEADER, target.appliedId());
            response.setHeader("Cache-Control", "no-cache");
            response.setHeader("X-Accel-Buffering", "no");
            response.setContentType(MediaType.TEXT_EVENT_STREAM_VALUE);
            response.setCharacterEncoding("UTF-8");
            return CompletableFuture.completedFuture(body);
        }
        return call.result
                .whenComplete((r, e) -> target.release())
                .thenApply(r -> ResponseEntity.ok().header(INTERVENTION_HEADER, target.appliedId()).body(r));
    }

    /** Drains the call's events to the client; a failed write means the client left, which cancels its rows. */
    private void stream(CompletionCall call, OutputStream out) throws IOException {
        try {
            while (true) {
                Object event;
                try {
                    event = call.events.poll(KEEPALIVE_MS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    call.cancel();
                    return;
                }
                if (event == null) {
                    // An SSE comment: keeps proxies from timing out and finds clients that left while queued.
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                } else if (event == CompletionCall.END) {
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    return;
                } else {
                    out.write(("data: " + json.writeValueAsString(event) + "\n\n").getBytes(StandardCharsets.UTF_8));
                }
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            call.cancel();
            throw e;
        }
    }
}

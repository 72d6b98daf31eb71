package dev.reftserver.api;

import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.springframework.http.MediaType;
import tools.jackson.databind.json.JsonMapper;

/**
 * A completion call's events as Server-Sent Events, for every streaming endpoint: each event as {@code data:} JSON,
 * a keep-alive comment while nothing comes, {@code data: [DONE]} at the end. A failed write means the client left,
 * which cancels the call's rows.
 */
final class SseStream {

    /** How long the stream stays silent before a keep-alive comment. */
    private static final long KEEPALIVE_MS = 1000;

    private SseStream() {
    }

    /** Sets the headers of an event stream (no caching, no proxy buffering). */
    static void prepare(HttpServletResponse response) {
        response.setHeader("Cache-Control", "no-cache");
        response.setHeader("X-Accel-Buffering", "no");
        response.setContentType(MediaType.TEXT_EVENT_STREAM_VALUE);
        response.setCharacterEncoding("UTF-8");
    }

    /**
     * Sends {@code first}, then drains the call's events until its end.
     *
     * @param chunk what the endpoint sends for one of the call's completion chunks (its own response shape); other
     *     events (an error body) go out as they are
     */
    static void drain(CompletionCall call, List<?> first, Function<CompletionResponse, ?> chunk, OutputStream out,
            HttpServletResponse response, JsonMapper json) throws IOException {
        try {
            for (Object event : first) {
                send(out, response, json, event);
            }
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
                    flush(out, response);
                } else if (event == CompletionCall.END) {
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    flush(out, response);
                    return;
                } else {
                    send(out, response, json, event instanceof CompletionResponse r ? chunk.apply(r) : event);
                }
            }
        } catch (IOException | RuntimeException e) {
            call.cancel();
            throw e;
        }
    }

    private static void send(OutputStream out, HttpServletResponse response, JsonMapper json, Object event)
            throws IOException {
        out.write(("data: " + json.writeValueAsString(event) + "\n\n").getBytes(StandardCharsets.UTF_8));
        flush(out, response);
    }

    /** MVC hands a streaming body a non-flushing stream; flushing the response is what sends the event. */
    private static void flush(OutputStream out, HttpServletResponse response) throws IOException {
        out.flush();
        response.flushBuffer();
    }
}

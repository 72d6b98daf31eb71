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
 * A completion call's events as Server-Sent Events, for every streaming endpoint: each event as {@code data:} JSON
 * (named by an {@code event:} line where the endpoint names them), a keep-alive comment while nothing comes,
 * {@code data: [DONE]} at the end where the endpoint sends one. A failed write means the client left,
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
     * What an endpoint sends for the call's events: the JSON events for one of them (a completion chunk, or an
     * error body when the call failed), each under an SSE event name or none, and whether {@code [DONE]} closes it.
     */
    interface Events {

        /** The events to send for one of the call's events, in order. */
        List<?> of(Object event);

        /** The SSE {@code event:} name of an event to send, or null for a bare {@code data:} line. */
        default String name(Object event) {
            return null;
        }

        /** The stream ends with {@code data: [DONE]} (Completions and Chat Completions; not Responses). */
        default boolean doneMarker() {
            return true;
        }
    }

    /**
     * Sends {@code first}, then drains the call's events until its end, ending with {@code data: [DONE]}.
     *
     * @param chunk what the endpoint sends for one of the call's completion chunks (its own response shape); other
     *     events (an error body) go out as they are
     */
    static void drain(CompletionCall call, List<?> first, Function<CompletionResponse, ?> chunk, OutputStream out,
            HttpServletResponse response, JsonMapper json) throws IOException {
        Events events = event -> List.of(event instanceof CompletionResponse r ? chunk.apply(r) : event);
        drainEvents(call, first, events, out, response, json);
    }

    /** Sends {@code first}, then drains the call's events until its end, as {@code events} says. */
    static void drainEvents(CompletionCall call, List<?> first, Events events, OutputStream out,
            HttpServletResponse response, JsonMapper json) throws IOException {
        try {
            for (Object event : first) {
                send(out, response, json, events.name(event), event);
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
                    if (events.doneMarker()) {
                        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                        flush(out, response);
                    }
                    return;
                } else {
                    for (Object e : events.of(event)) {
                        send(out, response, json, events.name(e), e);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            call.cancel();
            throw e;
        }
    }

    private static void send(OutputStream out, HttpServletResponse response, JsonMapper json, String name,
            Object event) throws IOException {
        String line = "data: " + json.writeValueAsString(event) + "\n\n";
        out.write((name == null ? line : "event: " + name + "\n" + line).getBytes(StandardCharsets.UTF_8));
        flush(out, response);
    }

    /** MVC hands a streaming body a non-flushing stream; flushing the response is what sends the event. */
    private static void flush(OutputStream out, HttpServletResponse response) throws IOException {
        out.flush();
        response.flushBuffer();
    }
}

package dev.reftserver.engine;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

/** The waiting queue is at {@code reft.engine.max-queue}: the client should retry later (503, Retry-After). */
public class QueueFullException extends ServiceException {

    private final int retryAfterSeconds;

    public QueueFullException(int waiting, int retryAfterSeconds) {
        super(HttpStatus.SERVICE_UNAVAILABLE, "server_overloaded", null, "queue_full",
                "the server is at capacity (" + waiting + " requests waiting); retry later");
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }

    @Override
    public HttpHeaders headers() {
        HttpHeaders h = new HttpHeaders();
        h.set(HttpHeaders.RETRY_AFTER, Integer.toString(retryAfterSeconds));
        return h;
    }
}

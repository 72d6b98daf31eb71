package dev.reftserver.tenant;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

/** A tenant is over its requests-per-minute or tokens-per-minute limit. Answers 429 with Retry-After. */
public class RateLimitedException extends ServiceException {

    private final long retryAfterSeconds;

    /** @param limit {@code requests} or {@code tokens}: OpenAI reports which limit as the error type */
    public RateLimitedException(String limit, long perMinute, long retryAfterSeconds) {
        super(HttpStatus.TOO_MANY_REQUESTS, limit, null, "rate_limit_exceeded",
                "Rate limit reached for " + limit + " per minute (limit " + perMinute + "). Please try again in "
                        + retryAfterSeconds + "s.");
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }

    @Override
    public HttpHeaders headers() {
        HttpHeaders h = new HttpHeaders();
        h.set(HttpHeaders.RETRY_AFTER, Long.toString(retryAfterSeconds));
        return h;
    }
}

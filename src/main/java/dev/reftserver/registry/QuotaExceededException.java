package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

/**
 * A tenant is at one of its {@link Quotas}: counts answer 429 (deleting something makes room), stored bytes 413,
 * a single over-long route list 400. The message names the limit and the setting that raises it.
 */
public class QuotaExceededException extends ServiceException {

    private final boolean retrySoon;

    private QuotaExceededException(HttpStatus status, String param, String message, boolean retrySoon) {
        super(status, status == HttpStatus.BAD_REQUEST ? "invalid_request_error" : "insufficient_quota", param,
                "quota_exceeded", message);
        this.retrySoon = retrySoon;
    }

    private QuotaExceededException(HttpStatus status, String param, String message) {
        this(status, param, message, false);
    }

    public static QuotaExceededException count(String tenant, String what, long limit, String setting) {
        return new QuotaExceededException(HttpStatus.TOO_MANY_REQUESTS, null, "tenant '" + tenant
                + "' is at its limit of " + limit + " " + what + " (" + setting + "); delete some first");
    }

    static QuotaExceededException bytes(String tenant, long stored, long adding, long limit) {
        return new QuotaExceededException(HttpStatus.PAYLOAD_TOO_LARGE, "bundle", "tenant '" + tenant + "' stores "
                + stored + " bytes of bundles; " + adding + " more would pass its limit of " + limit
                + " bytes (reft.quotas.stored-bytes)");
    }

    static QuotaExceededException routes(int routes, int limit) {
        return new QuotaExceededException(HttpStatus.BAD_REQUEST, "routes", "a task takes at most " + limit
                + " routes (reft.quotas.routes-per-task), got " + routes);
    }

    /** Requests in flight: retrying once one finishes may succeed. */
    public static QuotaExceededException concurrent(String tenant, int limit) {
        return new QuotaExceededException(HttpStatus.TOO_MANY_REQUESTS, null, "tenant '" + tenant
                + "' has " + limit + " requests in flight, its limit (reft.quotas.concurrent-requests); "
                + "retry when one finishes", true);
    }

    @Override
    public HttpHeaders headers() {
        if (!retrySoon) {
            return HttpHeaders.EMPTY;
        }
        HttpHeaders h = new HttpHeaders();
        h.set(HttpHeaders.RETRY_AFTER, "1");
        return h;
    }
}

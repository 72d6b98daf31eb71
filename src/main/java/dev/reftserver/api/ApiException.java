package dev.reftserver.api;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

/**
 * A failure the API reports in OpenAI's error shape. Subclasses name one failure each; {@link ApiExceptionHandler}
 * is the one place that turns them into HTTP.
 */
public class ApiException extends RuntimeException {

    private final HttpStatus status;
    private final String type;
    private final String param;
    private final String code;

    public ApiException(HttpStatus status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    public static ApiException invalidRequest(String param, String message) {
        return new ApiException(HttpStatus.BAD_REQUEST, "invalid_request_error", param, null, message);
    }

    public static ApiException notFound(String param, String message) {
        return new ApiException(HttpStatus.NOT_FOUND, "invalid_request_error", param, "not_found", message);
    }

    public static ApiException conflict(String message) {
        return new ApiException(HttpStatus.CONFLICT, "invalid_request_error", null, "conflict", message);
    }

    public HttpStatus status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** Response headers this failure needs (e.g. {@code Retry-After}, {@code WWW-Authenticate}); none by default. */
    public HttpHeaders headers() {
        return HttpHeaders.EMPTY;
    }
}

package dev.reftserver.error;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

/**
 * A failure the API reports in OpenAI's error shape. Subclasses name one failure each; the API's exception handler
 * is the one place that turns them into HTTP.
 */
public class ServiceException extends RuntimeException {

    private final HttpStatus status;
    private final String type;
    private final String param;
    private final String code;

    public ServiceException(HttpStatus status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    public static ServiceException invalidRequest(String param, String message) {
        return new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", param, null, message);
    }

    public static ServiceException notFound(String param, String message) {
        return new ServiceException(HttpStatus.NOT_FOUND, "invalid_request_error", param, "not_found", message);
    }

    public static ServiceException conflict(String message) {
        return new ServiceException(HttpStatus.CONFLICT, "invalid_request_error", null, "conflict", message);
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

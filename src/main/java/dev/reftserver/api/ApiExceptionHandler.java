package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.registry.UploadMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.HttpMediaTypeNotAcceptableException;
import org.springframework.web.HttpMediaTypeNotSupportedException;
import org.springframework.web.HttpRequestMethodNotSupportedException;
import org.springframework.web.bind.MissingServletRequestParameterException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.async.AsyncRequestNotUsableException;
import org.springframework.web.context.request.async.AsyncRequestTimeoutException;
import org.springframework.web.method.annotation.MethodArgumentTypeMismatchException;
import org.springframework.web.multipart.MaxUploadSizeExceededException;
import org.springframework.web.multipart.MultipartException;
import org.springframework.web.multipart.support.MissingServletRequestPartException;
import org.springframework.web.servlet.resource.NoResourceFoundException;

/** The one place that maps failures to HTTP statuses and OpenAI-shaped error bodies. */
@RestControllerAdvice
public class ApiExceptionHandler {

    private static final Logger log = LoggerFactory.getLogger(ApiExceptionHandler.class);

    private final UploadMetrics uploads;

    ApiExceptionHandler(UploadMetrics uploads) {
        this.uploads = uploads;
    }

    @ExceptionHandler(ServiceException.class)
    ResponseEntity<ErrorBody> api(ServiceException e) {
        return ResponseEntity.status(e.status())
                .headers(e.headers())
                .header(HttpHeaders.CONTENT_TYPE, "application/json")
                .body(ErrorBody.of(e.getMessage(), e.type(), e.param(), e.code()));
    }

    @ExceptionHandler(BundleRejectedException.class)
    ResponseEntity<ErrorBody> bundleRejected(BundleRejectedException e) {
        HttpStatus status = e.tooLarge() ? HttpStatus.PAYLOAD_TOO_LARGE : HttpStatus.BAD_REQUEST;
        return body(status, e.getMessage(), "invalid_request_error", "bundle", e.reason());
    }

    @ExceptionHandler(HttpMessageNotReadableException.class)
    ResponseEntity<ErrorBody> unreadable(HttpMessageNotReadableException e) {
        RequestBodyLimit.TooLarge tooLarge = RequestBodyLimit.TooLarge.in(e);
        if (tooLarge != null) {
            return tooLarge(tooLarge);
        }
        return body(HttpStatus.BAD_REQUEST, JsonErrors.describe(e), "invalid_request_error", JsonErrors.param(e),
                null);
    }

    @ExceptionHandler(RequestBodyLimit.TooLarge.class)
    ResponseEntity<ErrorBody> tooLarge(RequestBodyLimit.TooLarge e) {
        return body(HttpStatus.PAYLOAD_TOO_LARGE, e.getMessage(), "invalid_request_error", null,
                "request_too_large");
    }

    @ExceptionHandler(MaxUploadSizeExceededException.class)
    ResponseEntity<ErrorBody> tooLarge(MaxUploadSizeExceededException e) {
        // Refused while the multipart body is read, before the upload reaches the registry; the only multipart
        // endpoint is the bundle upload.
        uploads.rejected("too_large");
        return body(HttpStatus.PAYLOAD_TOO_LARGE, "upload exceeds the maximum size", "invalid_request_error",
                "bundle", "too_large");
    }

    /**
     * A multipart body the container cannot parse (no boundary, broken parts, bad headers): the client's fault,
     * so a 400 and a debug line, never an error log.
     */
    @ExceptionHandler(MultipartException.class)
    ResponseEntity<ErrorBody> badMultipart(MultipartException e) {
        log.debug("unparseable multipart body", e);
        return body(HttpStatus.BAD_REQUEST, "request body is not a valid multipart/form-data body"
                + " (a boundary, and parts with a Content-Disposition naming each field)", "invalid_request_error",
                null, "bad_multipart");
    }

    @ExceptionHandler({MissingServletRequestPartException.class, MissingServletRequestParameterException.class})
    ResponseEntity<ErrorBody> missingPart(Exception e) {
        return body(HttpStatus.BAD_REQUEST, e.getMessage(), "invalid_request_error", null, null);
    }

    @ExceptionHandler(MethodArgumentTypeMismatchException.class)
    ResponseEntity<ErrorBody> typeMismatch(MethodArgumentTypeMismatchException e) {
        return body(HttpStatus.BAD_REQUEST, "invalid value for '" + e.getName() + "'", "invalid_request_error",
                e.getName(), null);
    }

    @ExceptionHandler(HttpMediaTypeNotSupportedException.class)
    ResponseEntity<ErrorBody> mediaType(HttpMediaTypeNotSupportedException e) {
        return body(HttpStatus.UNSUPPORTED_MEDIA_TYPE, e.getMessage(), "invalid_request_error", null, null);
    }

    /** The client's {@code Accept} header excludes what the endpoint answers with (JSON, mostly). */
    @ExceptionHandler(HttpMediaTypeNotAcceptableException.class)
    ResponseEntity<ErrorBody> notAcceptable(HttpMediaTypeNotAcceptableException e) {
        return body(HttpStatus.NOT_ACCEPTABLE, "this endpoint answers with " + (e.getSupportedMediaTypes().isEmpty()
                ? "application/json" : MediaType.toString(e.getSupportedMediaTypes()))
                + ", which the request's Accept header excludes", "invalid_request_error", null, "not_acceptable");
    }

    @ExceptionHandler(HttpRequestMethodNotSupportedException.class)
    ResponseEntity<ErrorBody> method(HttpRequestMethodNotSupportedException e) {
        return body(HttpStatus.METHOD_NOT_ALLOWED, e.getMessage(), "invalid_request_error", null, null);
    }

    @ExceptionHandler(NoResourceFoundException.class)
    ResponseEntity<ErrorBody> noResource(NoResourceFoundException e) {
        return body(HttpStatus.NOT_FOUND, "no such endpoint: " + e.getResourcePath(), "invalid_request_error",
                null, "not_found");
    }

    /**
     * The client went away mid-response (typically closing a stream, which also cancelled its rows). Nothing can
     * be written back, and it is no server failure: no error log, no error body.
     */
    @ExceptionHandler(AsyncRequestNotUsableException.class)
    ResponseEntity<ErrorBody> clientGone(AsyncRequestNotUsableException e) {
        log.debug("client disconnected: {}", e.getMessage());
        return null;
    }

    /**
     * Spring's own limit on an asynchronous request ({@code spring.mvc.async.request-timeout}, above the engine's
     * {@code reft.engine.request-timeout}) ran out first: the same answer as the engine's deadline.
     */
    @ExceptionHandler(AsyncRequestTimeoutException.class)
    ResponseEntity<ErrorBody> asyncTimeout(AsyncRequestTimeoutException e) {
        log.warn("a request outlived spring.mvc.async.request-timeout");
        return body(HttpStatus.GATEWAY_TIMEOUT, "the request did not finish within the server's time limit", "timeout",
                null, "request_timeout");
    }

    @ExceptionHandler(Exception.class)
    ResponseEntity<ErrorBody> unexpected(Exception e) {
        log.error("unexpected failure", e);
        return body(HttpStatus.INTERNAL_SERVER_ERROR, "internal error", "server_error", null, null);
    }

    static ResponseEntity<ErrorBody> body(HttpStatus status, String message, String type, String param,
            String code) {
        return ResponseEntity.status(status)
                .header(HttpHeaders.CONTENT_TYPE, "application/json")
                .body(ErrorBody.of(message, type, param, code));
    }
}

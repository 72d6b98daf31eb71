package dev.reftserver.tenant;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/** An authenticated caller asked for something its key does not allow. */
public class AccessDeniedApiException extends ServiceException {

    public AccessDeniedApiException() {
        super(HttpStatus.FORBIDDEN, "invalid_request_error", null, "forbidden",
                "this key is not allowed to call this endpoint");
    }
}

package dev.reftserver.tenant;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

/** No valid bearer key came with a call that needs one. */
public class AuthenticationRequiredException extends ServiceException {

    public AuthenticationRequiredException(String message) {
        super(HttpStatus.UNAUTHORIZED, "invalid_request_error", null, "invalid_api_key", message);
    }

    @Override
    public HttpHeaders headers() {
        HttpHeaders h = new HttpHeaders();
        h.set(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
        return h;
    }
}

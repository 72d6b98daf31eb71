package dev.reftserver.tenant;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/** The admin API was called on a server with no admin key configured. */
public class AdminDisabledException extends ServiceException {

    public AdminDisabledException() {
        super(HttpStatus.FORBIDDEN, "invalid_request_error", null, "admin_disabled",
                "the admin API is disabled: no admin key is configured (reft.security.admin-key)");
    }
}

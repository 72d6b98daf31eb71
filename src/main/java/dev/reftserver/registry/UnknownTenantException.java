package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/** No tenant of that name exists. */
public class UnknownTenantException extends ServiceException {

    public UnknownTenantException(String name) {
        super(HttpStatus.NOT_FOUND, "invalid_request_error", "name", "not_found",
                "tenant '" + name + "' not found");
    }
}

package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/** A tenant of that name already exists. */
public class TenantExistsException extends ServiceException {

    public TenantExistsException(String name) {
        super(HttpStatus.CONFLICT, "invalid_request_error", "name", "tenant_exists",
                "tenant '" + name + "' already exists");
    }
}

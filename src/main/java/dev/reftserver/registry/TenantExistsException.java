package dev.reftserver.registry;

import dev.reftserver.api.ApiException;
import org.springframework.http.HttpStatus;

/** A tenant of that name already exists. */
public class TenantExistsException extends ApiException {

    public TenantExistsException(String name) {
        super(HttpStatus.CONFLICT, "invalid_request_error", "name", "tenant_exists",
                "tenant '" + name + "' already exists");
    }
}

package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/**
 * A task route names an intervention version the caller does not have. Another tenant's versions answer
 * exactly like versions that never existed.
 */
public class UnknownRouteException extends ServiceException {

    public UnknownRouteException(String route) {
        super(HttpStatus.NOT_FOUND, "invalid_request_error", "intervention", "not_found",
                "intervention '" + route + "' not found");
    }
}

package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/**
 * The {@code model} (or {@code intervention}) of a request names no task, intervention or base model the
 * caller can use. Another tenant's names answer exactly like unknown names.
 */
public class ModelNotFoundException extends ServiceException {

    public ModelNotFoundException(String param, String value) {
        super(HttpStatus.NOT_FOUND, "invalid_request_error", param, "model_not_found",
                "The model '" + value + "' does not exist");
    }
}

package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/** An intervention version cannot be deleted while a task routes to it. */
public class InterventionInUseException extends ServiceException {

    public InterventionInUseException(String intervention, String task) {
        super(HttpStatus.CONFLICT, "invalid_request_error", null, "conflict",
                task == null
                        ? "intervention '" + intervention + "' is routed to by a task"
                        : "intervention '" + intervention + "' is routed to by task '" + task + "'");
    }
}

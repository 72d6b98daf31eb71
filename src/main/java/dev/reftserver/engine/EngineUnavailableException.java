package dev.reftserver.engine;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/** The engine is draining for shutdown and takes no new rows (503). */
public class EngineUnavailableException extends ServiceException {

    public EngineUnavailableException(String message) {
        super(HttpStatus.SERVICE_UNAVAILABLE, "server_unavailable", null, "shutting_down", message);
    }
}

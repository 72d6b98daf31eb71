package dev.reftserver.intervention;

import dev.reftserver.error.ServiceException;
import org.springframework.http.HttpStatus;

/**
 * A stored bundle uses something the requested export format cannot say (pyreft stores no activation and only its
 * own first-half / second-half position layout), so exporting it would change what it does.
 */
public class NotExportableException extends ServiceException {

    NotExportableException(String message) {
        super(HttpStatus.BAD_REQUEST, "invalid_request_error", "format", "not_exportable", message);
    }
}

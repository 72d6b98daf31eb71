package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import java.util.Map;

/**
 * Request DTOs collect the JSON fields they do not declare (with {@code @JsonAnySetter}) instead of dropping them,
 * so a client that sends a field this server does not know (a typo, or an OpenAI field it lacks) gets a 400
 * naming that field, as OpenAI answers, rather than a completion made without it. Done per DTO, not with a global
 * {@code FAIL_ON_UNKNOWN_PROPERTIES}, so the message and {@code param} are OpenAI's and other endpoints keep the
 * Spring default.
 */
final class UnknownFields {

    private UnknownFields() {
    }

    /** @param prefix the DTO's path in the request ({@code ""} at the top, {@code "stream_options."} inside) */
    static void reject(Map<String, Object> unknown, String prefix) {
        if (unknown != null && !unknown.isEmpty()) {
            String field = prefix + unknown.keySet().iterator().next();
            throw ServiceException.invalidRequest(field, "Unrecognized request argument supplied: " + field);
        }
    }
}

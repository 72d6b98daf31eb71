package dev.reftserver.api;

import org.springframework.http.converter.HttpMessageNotReadableException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DatabindException;

/** Turns Jackson's parse failures into messages that name the offending field. */
final class JsonErrors {

    private JsonErrors() {
    }

    static String param(HttpMessageNotReadableException e) {
        if (e.getMostSpecificCause() instanceof DatabindException de && !de.getPath().isEmpty()) {
            return de.getPath().stream()
                    .map(ref -> ref.getPropertyName() != null ? ref.getPropertyName() : "[" + ref.getIndex() + "]")
                    .reduce((a, b) -> b.startsWith("[") ? a + b : a + "." + b)
                    .orElse(null);
        }
        return null;
    }

    static String describe(HttpMessageNotReadableException e) {
        String param = param(e);
        Throwable cause = e.getMostSpecificCause();
        if (param != null) {
            return "invalid value for '" + param + "': " + shortMessage(cause);
        }
        if (cause instanceof JacksonException je) {
            return "request body is not valid JSON: " + je.getOriginalMessage();
        }
        return "request body is missing or not valid JSON";
    }

    private static String shortMessage(Throwable cause) {
        if (cause instanceof JacksonException je) {
            String m = je.getOriginalMessage();
            int cut = m.indexOf('\n');
            return cut > 0 ? m.substring(0, cut) : m;
        }
        return cause.getMessage();
    }
}

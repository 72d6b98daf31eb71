package dev.reftserver.api;

import java.io.IOException;
import java.io.Writer;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.core.StandardHost;
import org.apache.catalina.valves.ErrorReportValve;
import org.apache.coyote.ActionCode;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;
import tools.jackson.databind.json.JsonMapper;

/**
 * Requests the container refuses before any application code sees them (a request line or URL it cannot parse,
 * characters a URL may not hold, a header too large) are answered in the API's error shape, as JSON, instead of
 * Tomcat's HTML page: the same {@code {"error": {...}}} every other refusal has.
 */
@Component
class ConnectorErrors implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {

    @Override
    public void customize(TomcatServletWebServerFactory factory) {
        factory.addContextCustomizers(context -> {
            if (context.getParent() instanceof StandardHost host) {
                host.setErrorReportValveClass(JsonErrorValve.class.getName());
            }
        });
    }

    /** Tomcat's error report, written as an {@link ErrorBody}. */
    public static final class JsonErrorValve extends ErrorReportValve {

        private static final JsonMapper JSON = JsonMapper.builder().build();

        @Override
        protected void report(Request request, Response response, Throwable throwable) {
            int status = response.getStatus();
            // Only an error nothing has answered yet, and only once.
            if (status < 400 || response.getContentWritten() > 0 || !response.setErrorReported()) {
                return;
            }
            AtomicBoolean io = new AtomicBoolean(false);
            response.getCoyoteResponse().action(ActionCode.IS_IO_ALLOWED, io);
            if (!io.get()) {
                return;
            }
            String detail = response.getMessage();
            String message = status >= 500 ? "the server failed to handle the request"
                    : "the request's line, URL or headers could not be read (HTTP " + status + ")"
                            + (detail == null || detail.isBlank() ? "" : ": " + detail)
                            + "; characters such as { } | ^ must be percent-encoded in a URL, and the headers "
                            + "together must stay within the server's limit";
            String type = status >= 500 ? "server_error" : "invalid_request_error";
            try {
                response.setContentType("application/json");
                response.setCharacterEncoding("utf-8");
                Writer writer = response.getReporter();
                if (writer != null) {
                    writer.write(JSON.writeValueAsString(ErrorBody.of(message, type, null, null)));
                    response.finishResponse();
                }
            } catch (IOException | IllegalStateException e) {
                // the client is gone: nothing to tell it
            }
        }
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * With {@code management.server.port} set, metrics and the actuator live on that port only: Prometheus scrapes
 * it without a key, and the serving port has no {@code /actuator/prometheus} at all. The probes' paths
 * {@code /livez} and {@code /readyz} stay on the serving port, so they check the port that serves.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + ManagementPortTest.ADMIN_KEY,
        "management.server.port=0"})
class ManagementPortTest {

    static final String ADMIN_KEY = "management-admin-key";

    @DynamicPropertySource
    static void store(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", () -> ServingTestSupport.storeDir("management").toString());
    }

    @LocalServerPort
    int port;

    @LocalManagementPort
    int managementPort;

    @Test
    void prometheusIsOpenOnTheManagementPortAndAbsentFromTheServingPort() {
        assertThat(managementPort).isNotEqualTo(port);
        HttpResponse<String> scrape = new Http(managementPort).get("/actuator/prometheus", null);
        assertThat(scrape.statusCode()).isEqualTo(200);
        assertThat(scrape.body()).contains("reft_queue_depth");

        HttpResponse<String> serving = new Http(port).get("/actuator/prometheus", null);
        assertThat(serving.statusCode()).isEqualTo(404);
        assertThat(serving.body()).doesNotContain("reft_").contains("\"error\"");
        assertThat(new Http(port).get("/actuator/prometheus", ADMIN_KEY).statusCode()).isEqualTo(404);
    }

    /** A request the management server's container cannot parse is refused in the API's JSON error shape too. */
    @Test
    void anUnparsableRequestToTheManagementPortGetsTheErrorShape() throws Exception {
        String answer;
        try (java.net.Socket socket = new java.net.Socket("localhost", managementPort)) {
            String request = "GET /actuator/%zzhealth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        assertThat(answer).startsWith("HTTP/1.1 400 ");
        assertThat(answer.toLowerCase(java.util.Locale.ROOT)).contains("content-type: application/json");
        assertThat(answer.substring(answer.indexOf("\r\n\r\n") + 4))
                .startsWith("{\"error\":").contains("\"type\":\"invalid_request_error\"")
                .contains("the request's line, URL or headers could not be read (HTTP 400)");
    }

    @Test
    void probesAnswerOnBothPortsAndOtherActuatorEndpointsStillNeedTheAdminKey() {
        assertThat(new Http(port).get("/livez", null).statusCode()).isEqualTo(200);
        assertThat(new Http(port).get("/readyz", null).statusCode()).isIn(200, 503);
        assertThat(new Http(managementPort).get("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
        assertThat(new Http(managementPort).get("/actuator/metrics", null).statusCode()).isEqualTo(401);
        assertThat(new Http(managementPort).get("/actuator/metrics", ADMIN_KEY).statusCode()).isEqualTo(200);
    }
}

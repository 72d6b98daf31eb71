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

    @Test
    void probesAnswerOnBothPortsAndOtherActuatorEndpointsStillNeedTheAdminKey() {
        assertThat(new Http(port).get("/livez", null).statusCode()).isEqualTo(200);
        assertThat(new Http(port).get("/readyz", null).statusCode()).isIn(200, 503);
        assertThat(new Http(managementPort).get("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
        assertThat(new Http(managementPort).get("/actuator/metrics", null).statusCode()).isEqualTo(401);
        assertThat(new Http(managementPort).get("/actuator/metrics", ADMIN_KEY).statusCode()).isEqualTo(200);
    }
}

package dev.reftserver.deploy;

import static dev.reftserver.deploy.RepoFiles.list;
import static dev.reftserver.deploy.RepoFiles.map;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DockerComposeTest {

    private final Map<String, Object> compose = RepoFiles.yaml("docker-compose.yml");
    private final Map<String, Object> services = map(compose.get("services"));
    private final Map<String, Object> server = map(services.get("reft-server"));
    private final Map<String, Object> serverEnv = map(server.get("environment"));

    @Test
    void definesTheServerPostgresAndPrometheus() {
        assertThat(services).containsOnlyKeys("reft-server", "postgres", "prometheus");
    }

    @Test
    void serverIsBuiltFromTheRepositoryDockerfileWithItsVariantArg() {
        Map<String, Object> build = map(server.get("build"));
        assertThat(build.get("context")).isEqualTo(".");
        Map<String, Object> args = map(build.get("args"));
        DockerfileModel dockerfile = DockerfileModel.parse(RepoFiles.read("Dockerfile"));
        assertThat(args.get("VARIANT")).isEqualTo(dockerfile.globalArgDefault("VARIANT").orElseThrow());
        assertThat(server.get("image")).isEqualTo("reft-server:" + RepoFiles.pomVersion());
    }

    @Test
    void storeUrlPointsAtThePostgresServiceAndItsDatabase() {
        String url = (String) serverEnv.get("REFT_STORE_JDBC_URL");
        assertThat(url).startsWith("jdbc:postgresql://");
        URI uri = URI.create(url.substring("jdbc:".length()));
        assertThat(services).containsKey(uri.getHost());
        assertThat(uri.getHost()).isEqualTo("postgres");
        assertThat(uri.getPort()).isEqualTo(5432);

        Map<String, Object> postgresEnv = map(map(services.get("postgres")).get("environment"));
        assertThat(uri.getPath()).isEqualTo("/" + postgresEnv.get("POSTGRES_DB"));
        assertThat(serverEnv.get("SPRING_DATASOURCE_USERNAME")).isEqualTo(postgresEnv.get("POSTGRES_USER"));
        assertThat(serverEnv.get("SPRING_DATASOURCE_PASSWORD")).isEqualTo(postgresEnv.get("POSTGRES_PASSWORD"));
    }

    @Test
    void serverStartsOnlyOncePostgresIsHealthy() {
        Map<String, Object> dependsOn = map(server.get("depends_on"));
        assertThat(map(dependsOn.get("postgres")).get("condition")).isEqualTo("service_healthy");

        Map<String, Object> postgres = map(services.get("postgres"));
        assertThat((String) postgres.get("image")).isEqualTo("postgres:15");
        List<Object> test = list(map(postgres.get("healthcheck")).get("test"));
        assertThat(test.get(0)).isEqualTo("CMD-SHELL");
        assertThat((String) test.get(1)).startsWith("pg_isready ");
        assertThat(list(postgres.get("volumes"))).anyMatch(v -> ((String) v).endsWith(":/var/lib/postgresql/data"));
    }

    @Test
    void serverHealthcheckAsksReadinessAndStopWaitsLongerThanTheDrain() {
        List<Object> test = list(map(server.get("healthcheck")).get("test"));
        assertThat(String.join(" ", test.stream().map(String::valueOf).toList()))
                .contains("http://localhost:8080/readyz");
        assertThat(list(server.get("ports"))).contains("8080:8080");
        Duration stopGrace = Duration.parse("PT" + ((String) server.get("stop_grace_period")).toUpperCase());
        assertThat(stopGrace).isGreaterThan(Duration.ofSeconds(30));
    }

    @Test
    void serverKeepsStoreAndDjlCacheInNamedVolumes() {
        Map<String, Object> declared = map(compose.get("volumes"));
        DockerfileModel.Stage runtime = DockerfileModel.parse(RepoFiles.read("Dockerfile")).stage("runtime");
        String cache = runtime.env("DJL_CACHE_DIR").orElseThrow();
        List<String> mounts = list(server.get("volumes")).stream().map(String::valueOf).toList();
        assertThat(mounts).contains("reft-data:/data", "djl-cache:" + cache);
        for (String mount : mounts) {
            assertThat(declared).containsKey(mount.split(":")[0]);
        }
    }

    @Test
    void adminKeyPassesThroughFromTheShellInsteadOfBeingWrittenDown() {
        assertThat(serverEnv).containsKey("REFT_SECURITY_ADMIN_KEY");
        assertThat(serverEnv.get("REFT_SECURITY_ADMIN_KEY")).isNull();
    }

    @Test
    void gpuReservationIsDocumentedButOff() {
        assertThat(server).doesNotContainKey("deploy");
        String text = RepoFiles.read("docker-compose.yml");
        assertThat(text).contains("#   resources:", "#     reservations:", "#         - driver: nvidia",
                "#           capabilities: [gpu]", "VARIANT=cuda");
    }

    @Test
    void prometheusScrapesTheServerActuatorFromTheMountedConfig() {
        Map<String, Object> prometheus = map(services.get("prometheus"));
        assertThat((String) prometheus.get("image")).startsWith("prom/prometheus:");
        String mount = list(prometheus.get("volumes")).stream().map(String::valueOf)
                .filter(v -> v.contains(":/etc/prometheus/prometheus.yml")).findFirst().orElseThrow();
        Path config = Path.of(mount.split(":")[0]);
        assertThat(config).isEqualTo(Path.of("./deploy/prometheus/prometheus.yml"));
        assertThat(Files.isRegularFile(config)).isTrue();

        Map<String, Object> scrape = list(RepoFiles.yaml("deploy/prometheus/prometheus.yml").get("scrape_configs"))
                .stream().map(RepoFiles::map)
                .filter(job -> "reft-server".equals(job.get("job_name"))).findFirst().orElseThrow();
        assertThat(scrape.get("metrics_path")).isEqualTo("/actuator/prometheus");
        List<Object> targets = list(map(list(scrape.get("static_configs")).get(0)).get("targets"));
        assertThat(targets).containsExactly("reft-server:9090");
        Map<String, Object> env = map(server.get("environment"));
        assertThat(env).containsEntry("MANAGEMENT_SERVER_PORT", 9090);
        assertThat(list(server.get("ports"))).containsExactly("8080:8080");
        assertThat(services).containsKey(((String) targets.get(0)).split(":")[0]);
    }
}

package dev.reftserver.deploy;

import static dev.reftserver.deploy.RepoFiles.list;
import static dev.reftserver.deploy.RepoFiles.map;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

class HelmChartTest {

    private static final Path CHART = Path.of("helm/reft-server");
    private static final Path GPU_POSTGRES = CHART.resolve("values-gpu-postgres.yaml");
    private static final String ADMIN_KEY = "admin-key-that-must-never-be-inlined";
    private static final String DB_URL = "jdbc:postgresql://db.internal:5432/reft";
    private static final String DB_PASSWORD = "db-password-that-must-never-be-inlined";

    /** The rendered manifests of one `helm template` run. */
    private record Render(String text, List<Map<String, Object>> docs) {

        List<Map<String, Object>> all(String kind) {
            return docs.stream().filter(d -> kind.equals(d.get("kind"))).toList();
        }

        Map<String, Object> one(String kind) {
            List<Map<String, Object>> found = all(kind);
            assertThat(found).as(kind).hasSize(1);
            return found.get(0);
        }

        Map<String, Object> podSpec() {
            return map(map(map(one("Deployment").get("spec")).get("template")).get("spec"));
        }

        Map<String, Object> container() {
            return list(podSpec().get("containers")).stream().map(RepoFiles::map)
                    .filter(c -> "reft-server".equals(c.get("name"))).findFirst().orElseThrow();
        }

        /** Data of the server's ConfigMap, the one the container loads with envFrom. */
        Map<String, Object> configData() {
            String name = (String) map(map(list(container().get("envFrom")).get(0)).get("configMapRef")).get("name");
            return all("ConfigMap").stream().filter(c -> name.equals(map(c.get("metadata")).get("name")))
                    .map(c -> map(c.get("data"))).findFirst().orElseThrow();
        }

        Map<String, Object> env(String name) {
            return list(container().get("env")).stream().map(RepoFiles::map)
                    .filter(e -> name.equals(e.get("name"))).findFirst()
                    .orElseThrow(() -> new AssertionError("no env " + name));
        }
    }

    private static Render render(UnaryOperator<TemplateCommand> options) {
        String text = options.apply(new Helm(CHART).template().withName("reft")).call();
        List<Map<String, Object>> docs = new ArrayList<>();
        for (Object doc : new Yaml().loadAll(text)) {
            if (doc != null) {
                docs.add(map(doc));
            }
        }
        return new Render(text, docs);
    }

    private static Render defaults() {
        return render(t -> t);
    }

    private static Render gpuPostgres() {
        return render(t -> t.withValuesFile(GPU_POSTGRES));
    }

    @Test
    void lintsWithoutErrorsOrWarnings() {
        LintResult result = new Helm(CHART).lint().strict().call();
        assertThat(result.isFailed()).as(String.join("\n", result.getMessages())).isFalse();
        assertThat(result.getMessages()).noneMatch(m -> m.contains("[ERROR]") || m.contains("[WARNING]"));
    }

    @Test
    void defaultRenderHasTheExpectedObjects() {
        Render render = defaults();
        assertThat(render.docs()).extracting(d -> d.get("kind")).containsExactlyInAnyOrder(
                "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment",
                "PodDisruptionBudget");
        assertThat(render.all("ServiceMonitor")).isEmpty();
        assertThat(render.all("HorizontalPodAutoscaler")).isEmpty();
    }

    @Test
    void probesUseTheHealthGroupsOnTheHttpPortAndMetricsTheManagementPort() {
        for (Render render : List.of(defaults(), gpuPostgres())) {
            Map<String, Object> container = render.container();
            assertThat(httpGet(container, "readinessProbe").get("path")).isEqualTo("/readyz");
            assertThat(httpGet(container, "livenessProbe").get("path")).isEqualTo("/livez");
            assertThat(httpGet(container, "startupProbe").get("path")).isEqualTo("/livez");
            for (String probe : List.of("readinessProbe", "livenessProbe", "startupProbe")) {
                assertThat(httpGet(container, probe).get("port")).as(probe).isEqualTo("http");
            }
            List<Object> ports = list(container.get("ports"));
            assertThat(map(ports.get(0))).containsEntry("name", "http").containsEntry("containerPort", 8080);
            assertThat(map(ports.get(1))).containsEntry("name", "management").containsEntry("containerPort", 9090);
            assertThat(render.configData()).containsEntry("SERVER_PORT", "8080")
                    .containsEntry("MANAGEMENT_SERVER_PORT", "9090")
                    .containsEntry("MANAGEMENT_ENDPOINT_HEALTH_PROBES_ENABLED", "true");
            // The serving Service carries the serving port only.
            assertThat(list(map(render.one("Service").get("spec")).get("ports"))).extracting(p -> map(p).get("name"))
                    .containsExactly("http");
        }
    }

    @Test
    void gpuLimitAppearsOnlyInTheGpuRender() {
        Map<String, Object> cpuResources = map(defaults().container().get("resources"));
        assertThat(map(cpuResources.get("requests"))).containsEntry("cpu", "1").containsEntry("memory", "2Gi");
        assertThat(map(cpuResources.get("limits"))).containsOnlyKeys("memory");
        assertThat(defaults().configData()).containsEntry("REFT_MODEL_DEVICE", "cpu")
                .containsEntry("REFT_MODEL_KVCACHEDTYPE", "auto")
                .doesNotContainKeys("PYTORCH_FLAVOR", "PYTORCH_LIBRARY_PATH");

        Render gpu = gpuPostgres();
        Map<String, Object> gpuLimits = map(map(gpu.container().get("resources")).get("limits"));
        assertThat(gpuLimits).containsEntry("nvidia.com/gpu", 1).containsEntry("memory", "16Gi");
        assertThat(gpu.configData())
                .containsEntry("REFT_MODEL_DEVICE", "gpu")
                .containsEntry("REFT_MODEL_DTYPE", "auto")
                .containsEntry("PYTORCH_FLAVOR", "cu128")
                .containsEntry("PYTORCH_LIBRARY_PATH", "/opt/libtorch/lib");
        assertThat(map(gpu.podSpec().get("nodeSelector"))).containsEntry("nvidia.com/gpu.present", "true");
        assertThat(list(gpu.podSpec().get("tolerations"))).extracting(t -> map(t).get("key"))
                .containsExactly("nvidia.com/gpu");
        assertThat((String) gpu.container().get("image")).isEqualTo("reft-server:0.1.0-SNAPSHOT-cuda");
    }

    @Test
    void secretsReachThePodOnlyThroughSecretKeyRefs() {
        Render render = render(t -> t.set("secret.adminKey", ADMIN_KEY)
                .set("secret.database.url", DB_URL)
                .set("secret.database.username", "reft")
                .set("secret.database.password", DB_PASSWORD));

        Map<String, Object> secret = render.one("Secret");
        String secretName = (String) map(secret.get("metadata")).get("name");
        Map<String, Object> data = map(secret.get("data"));
        assertThat(decode(data.get("admin-key"))).isEqualTo(ADMIN_KEY);
        assertThat(decode(data.get("database-url"))).isEqualTo(DB_URL);
        assertThat(decode(data.get("database-password"))).isEqualTo(DB_PASSWORD);

        assertSecretKeyRef(render, "REFT_SECURITY_ADMIN_KEY", secretName, "admin-key");
        assertSecretKeyRef(render, "REFT_STORE_JDBC_URL", secretName, "database-url");
        assertSecretKeyRef(render, "SPRING_DATASOURCE_USERNAME", secretName, "database-username");
        assertSecretKeyRef(render, "SPRING_DATASOURCE_PASSWORD", secretName, "database-password");

        // No plain value anywhere outside the Secret's base64 data.
        for (Map<String, Object> doc : render.docs()) {
            if (!"Secret".equals(doc.get("kind"))) {
                String yaml = new Yaml().dump(doc);
                assertThat(yaml).doesNotContain(ADMIN_KEY, DB_PASSWORD, DB_URL);
            }
        }
        assertThat(list(render.container().get("env"))).allSatisfy(e -> assertThat(map(e)).doesNotContainKey("value"));
        assertThat(list(render.container().get("envFrom"))).extracting(e -> map(e).keySet())
                .containsExactly(Set.of("configMapRef"));
    }

    @Test
    void unsetSecretValuesBecomeNoKeysSoTheirVariablesStayUnset() {
        Map<String, Object> secret = defaults().one("Secret");
        assertThat(secret.get("data")).satisfiesAnyOf(
                d -> assertThat(d).isNull(), d -> assertThat(map(d)).isEmpty());
        assertThat(map(map(defaults().env("REFT_SECURITY_ADMIN_KEY").get("valueFrom")).get("secretKeyRef")))
                .containsEntry("optional", true);
    }

    @Test
    void gpuPostgresValuesReadTheDatabaseFromTheExistingSecret() {
        Render render = gpuPostgres();
        assertThat(render.all("Secret")).isEmpty();
        assertThat(render.all("PersistentVolumeClaim")).isEmpty();
        assertSecretKeyRef(render, "REFT_STORE_JDBC_URL", "reft-server-db", "database-url");
        assertSecretKeyRef(render, "SPRING_DATASOURCE_PASSWORD", "reft-server-db", "database-password");
        assertSecretKeyRef(render, "REFT_SECURITY_ADMIN_KEY", "reft-server-db", "admin-key");
        Map<String, Object> strategy = map(map(render.one("Deployment").get("spec")).get("strategy"));
        assertThat(strategy.get("type")).isEqualTo("RollingUpdate");
    }

    @Test
    void terminationGraceExceedsTheEngineDrain() {
        for (Render render : List.of(defaults(), gpuPostgres())) {
            int grace = (Integer) render.podSpec().get("terminationGracePeriodSeconds");
            assertThat(render.configData()).containsEntry("REFT_ENGINE_SHUTDOWN_GRACE", "30s");
            assertThat(grace).isGreaterThan(30);
            List<Object> preStop = list(map(map(map(render.container().get("lifecycle")).get("preStop"))
                    .get("exec")).get("command"));
            assertThat(grace).isGreaterThan(30 + Integer.parseInt((String) preStop.get(1)));
        }
    }

    @Test
    void refusesATerminationGraceThatWouldCutTheDrainShort() {
        assertThatThrownBy(() -> render(t -> t.set("terminationGracePeriodSeconds", 30)))
                .hasMessageContaining("terminationGracePeriodSeconds (30) must exceed");
    }

    @Test
    void hpaScalesOnCpuByDefaultAndOnQueueDepthWithTheGpuValues() {
        Render cpu = render(t -> t.set("autoscaling.enabled", true));
        Map<String, Object> cpuHpa = cpu.one("HorizontalPodAutoscaler");
        assertThat(cpuHpa.get("apiVersion")).isEqualTo("autoscaling/v2");
        List<Object> cpuMetrics = list(map(cpuHpa.get("spec")).get("metrics"));
        assertThat(cpuMetrics).hasSize(1);
        Map<String, Object> resource = map(map(cpuMetrics.get(0)).get("resource"));
        assertThat(map(cpuMetrics.get(0)).get("type")).isEqualTo("Resource");
        assertThat(resource.get("name")).isEqualTo("cpu");
        assertThat(map(resource.get("target"))).containsEntry("type", "Utilization")
                .containsEntry("averageUtilization", 80);
        assertThat(map(cpu.one("Deployment").get("spec"))).doesNotContainKey("replicas");

        Map<String, Object> gpuHpa = gpuPostgres().one("HorizontalPodAutoscaler");
        Map<String, Object> spec = map(gpuHpa.get("spec"));
        assertThat(map(spec.get("scaleTargetRef"))).containsEntry("kind", "Deployment");
        List<Object> gpuMetrics = list(spec.get("metrics"));
        assertThat(gpuMetrics).extracting(m -> map(m).get("type")).containsExactly("Pods");
        Map<String, Object> pods = map(map(gpuMetrics.get(0)).get("pods"));
        assertThat(map(pods.get("metric")).get("name")).isEqualTo("reft_queue_depth");
        assertThat(map(pods.get("target"))).containsEntry("type", "AverageValue").containsEntry("averageValue", "8");
    }

    @Test
    void hpaWithoutAnyMetricIsRefused() {
        assertThatThrownBy(() -> render(t -> t.set("autoscaling.enabled", true)
                .set("autoscaling.targetCPUUtilizationPercentage", 0)))
                .hasMessageContaining("autoscaling needs a metric");
    }

    @Test
    void podDisruptionBudgetLetsOnePodGo() {
        for (Render render : List.of(defaults(), gpuPostgres())) {
            Map<String, Object> pdb = render.one("PodDisruptionBudget");
            assertThat(map(pdb.get("spec"))).containsEntry("maxUnavailable", 1);
            assertThat(map(map(pdb.get("spec")).get("selector")).get("matchLabels"))
                    .isEqualTo(map(map(render.one("Deployment").get("spec")).get("selector")).get("matchLabels"));
        }
    }

    @Test
    void serviceMonitorIsOptIn() {
        assertThat(gpuPostgres().all("ServiceMonitor")).isEmpty();
        Render render = render(t -> t.set("serviceMonitor.enabled", true));
        Map<String, Object> monitor = render.one("ServiceMonitor");
        assertThat(monitor.get("apiVersion")).isEqualTo("monitoring.coreos.com/v1");
        Map<String, Object> endpoint = map(list(map(monitor.get("spec")).get("endpoints")).get(0));
        assertThat(endpoint).containsEntry("port", "management").containsEntry("path", "/actuator/prometheus");
        // It selects the headless metrics Service, whose only port is the management port, and not the serving one.
        Map<String, Object> selector = map(map(map(monitor.get("spec")).get("selector")).get("matchLabels"));
        List<Map<String, Object>> selected = render.all("Service").stream()
                .filter(s -> map(map(s.get("metadata")).get("labels")).entrySet().containsAll(selector.entrySet()))
                .toList();
        assertThat(selected).hasSize(1);
        Map<String, Object> spec = map(selected.get(0).get("spec"));
        assertThat(spec).containsEntry("clusterIP", "None");
        assertThat(list(spec.get("ports"))).extracting(p -> map(p).get("targetPort")).containsExactly("management");
    }

    @Test
    void djlRunsOfflineWithItsCacheOnAWritableVolume() {
        Render render = defaults();
        Map<String, Object> config = render.configData();
        assertThat(config).containsEntry("DJL_OFFLINE", "true");
        String cache = (String) config.get("DJL_CACHE_DIR");
        assertThat(config).containsEntry("ENGINE_CACHE_DIR", cache);
        Map<String, Object> mount = list(render.container().get("volumeMounts")).stream().map(RepoFiles::map)
                .filter(m -> cache.equals(m.get("mountPath"))).findFirst().orElseThrow();
        assertThat(mount).doesNotContainKey("readOnly");
        assertThat(map(render.container().get("securityContext"))).containsEntry("readOnlyRootFilesystem", true);
        assertThat(map(render.podSpec().get("securityContext"))).containsEntry("runAsNonRoot", true);
    }

    @Test
    void initModelSourceRunsTheRepositoryFetchScript() {
        String script = RepoFiles.read("scripts/fetch-model.sh");
        assertThat(RepoFiles.read("helm/reft-server/files/fetch-model.sh")).isEqualTo(script);

        Render render = render(t -> t.set("model.source", "init"));
        Map<String, Object> fetchConfig = render.all("ConfigMap").stream()
                .filter(c -> Objects.toString(map(c.get("metadata")).get("name")).endsWith("-fetch-model"))
                .findFirst().orElseThrow();
        assertThat(map(fetchConfig.get("data")).get("fetch-model.sh")).isEqualTo(script.stripTrailing());
        Map<String, Object> init = map(list(render.podSpec().get("initContainers")).get(0));
        assertThat(list(init.get("command")))
                .containsExactly("bash", "/opt/reft/fetch-model.sh", "/models/stories15M");
        assertThat(render.configData()).containsEntry("REFT_MODEL_PATH", "/models/stories15M/stories15M.bin");
    }

    @Test
    void notesWarnAboutOpenModeAndAboutScalingTheEmbeddedStore() {
        String open = notes(new Helm(CHART).install().set("autoscaling.enabled", true));
        assertThat(open).contains("WARNING: no admin key is set", "WARNING: more than one replica with the embedded store");

        String secured = notes(new Helm(CHART).install().withValuesFile(GPU_POSTGRES));
        assertThat(secured).doesNotContain("WARNING").contains("on gpu with 1 x nvidia.com/gpu");
    }

    private static String notes(InstallCommand install) {
        String output = install.withName("reft").withNamespace("ml").dryRun().clientOnly().call().getOutput();
        return output.substring(output.indexOf("NOTES:"));
    }

    private static Map<String, Object> httpGet(Map<String, Object> container, String probe) {
        return map(map(container.get(probe)).get("httpGet"));
    }

    private static void assertSecretKeyRef(Render render, String variable, String secretName, String key) {
        Map<String, Object> env = render.env(variable);
        assertThat(env).doesNotContainKey("value");
        Map<String, Object> ref = map(map(env.get("valueFrom")).get("secretKeyRef"));
        assertThat(ref).containsEntry("name", secretName).containsEntry("key", key);
    }

    private static String decode(Object base64) {
        return new String(Base64.getDecoder().decode((String) base64), StandardCharsets.UTF_8);
    }
}

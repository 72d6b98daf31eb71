package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.reftserver.model.ReferenceFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * Scrapes {@code /actuator/prometheus} (with the admin key: no management port here) around real traffic: a
 * tenant uploads reference bundle A (pyreft, positions l1) and one broken zip, runs a base completion, one with
 * the bundle and a streamed one with it, and asks for a model that does not exist. Every {@code reft_} metric is exposed and
 * the counters moved by what that traffic did.
 */
class PrometheusMetricsTest extends OperationsTestSupport {

    /** One exposed sample: metric name, labels, value. */
    record Sample(String name, Map<String, String> labels, double value) {
    }

    private static final Pattern LINE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})?\\s+(\\S+)$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** A parsed scrape; {@code sum} adds every sample of a name whose labels include the given ones. */
    record Scrape(List<Sample> samples) {

        static Scrape parse(String text) {
            List<Sample> out = new ArrayList<>();
            for (String line : text.split("\n")) {
                Matcher m = LINE.matcher(line);
                if (line.startsWith("#") || !m.matches()) {
                    continue;
                }
                Map<String, String> labels = new HashMap<>();
                if (m.group(3) != null) {
                    Matcher l = LABEL.matcher(m.group(3));
                    while (l.find()) {
                        labels.put(l.group(1), l.group(2));
                    }
                }
                String v = m.group(4);
                out.add(new Sample(m.group(1), labels, v.equals("+Inf") ? Double.POSITIVE_INFINITY
                        : v.equals("-Inf") ? Double.NEGATIVE_INFINITY : Double.parseDouble(v)));
            }
            return new Scrape(out);
        }

        Set<String> names() {
            Set<String> names = new TreeSet<>();
            samples.forEach(s -> names.add(s.name()));
            return names;
        }

        double sum(String name, String... labelPairs) {
            double total = 0;
            for (Sample s : matching(name, labelPairs)) {
                total += s.value();
            }
            return total;
        }

        List<Sample> matching(String name, String... labelPairs) {
            return samples.stream().filter(s -> s.name().equals(name)).filter(s -> {
                for (int i = 0; i < labelPairs.length; i += 2) {
                    if (!labelPairs[i + 1].equals(s.labels().get(labelPairs[i]))) {
                        return false;
                    }
                }
                return true;
            }).toList();
        }
    }

    Scrape scrape() {
        HttpResponse<String> r = http().get("/actuator/prometheus", ADMIN_KEY);
        assertThat(r.statusCode()).isEqualTo(200);
        return Scrape.parse(r.body());
    }

    /** The pyreft save directory of reference bundle A, zipped as a client would upload it. */
    static byte[] referenceBundleA() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Path dir = ReferenceFiles.resource("reference/bundles/A/pyreft");
        try (ZipOutputStream zip = new ZipOutputStream(bytes); Stream<Path> files = Files.list(dir)) {
            for (Path p : files.sorted().toList()) {
                zip.putNextEntry(new ZipEntry("A/" + p.getFileName()));
                zip.write(Files.readAllBytes(p));
                zip.closeEntry();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** Every metric the server documents, by its Prometheus name. */
    static final List<String> EXPOSED = List.of(
            "reft_http_requests_seconds_count", "reft_http_requests_seconds_sum", "reft_http_requests_seconds_bucket",
            "reft_tenant_requests_total",
            "reft_time_to_first_token_seconds_count", "reft_time_to_first_token_seconds_bucket",
            "reft_time_per_output_token_seconds_count", "reft_time_per_output_token_seconds_bucket",
            "reft_engine_prefill_seconds_count", "reft_engine_decode_step_seconds_count",
            "reft_engine_mixed_step_seconds_count", "reft_batch_size_count", "reft_prefill_batch_size_count",
            "reft_prompt_tokens_total", "reft_generated_tokens_total",
            "reft_tenant_prompt_tokens_total", "reft_tenant_generated_tokens_total",
            "reft_queue_depth", "reft_running_rows", "reft_queue_rejected_total", "reft_rows_finished_total",
            "reft_kv_cache_used_tokens", "reft_kv_cache_capacity_tokens", "reft_kv_cache_bytes",
            "reft_intervention_edit_relative_norm_count", "reft_intervention_edit_relative_norm_bucket",
            "reft_bundle_cache_hits_total", "reft_bundle_cache_misses_total", "reft_bundle_cache_evictions_total",
            "reft_bundle_cache_size_bytes", "reft_bundle_cache_max_bytes", "reft_bundle_cache_entries",
            "reft_bundle_uploads_total", "reft_bundle_validation_failures_total");

    @Test
    void exposesEveryMetricAndMovesItsCountersWithTraffic() {
        String tenant = SecuredApiTestSupport.unique("ops");
        HttpResponse<String> created = http().post("/admin/tenants", ADMIN_KEY, "{\"name\":\"" + tenant + "\"}");
        assertThat(created.statusCode()).isEqualTo(201);
        String key = json(created).get("api_key").asString();
        Scrape before = scrape();

        HttpResponse<String> uploaded = http().upload(key, "bundle-a.zip", referenceBundleA(),
                Map.of("name", "bundle-a", "positions", "l1"));
        assertThat(uploaded.statusCode()).isEqualTo(201);
        HttpResponse<String> rejected = http().upload(key, "junk.zip", "not a zip".getBytes(), Map.of("name", "j"));
        assertThat(rejected.statusCode()).isEqualTo(400);
        String reason = json(rejected).get("error").get("code").asString();

        String request = """
                {"model":"%s","prompt":"Once upon a time","max_tokens":8,"temperature":0%s}""";
        HttpResponse<String> base = completion(key, request.formatted("stories15M", ""));
        assertThat(base.headers().firstValue("X-Reft-Intervention")).contains("none");
        HttpResponse<String> intervened = completion(key, request.formatted("bundle-a", ""));
        assertThat(intervened.headers().firstValue("X-Reft-Intervention")).contains("bundle-a@1");
        HttpResponse<String> streamed = completion(key, request.formatted("bundle-a@1",
                ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        assertThat(streamed.body()).endsWith("data: [DONE]\n\n");
        assertThat(http().post("/v1/completions", key, request.formatted("no-such-model", "")).statusCode())
                .isEqualTo(404);
        JsonNode streamUsage = null;
        for (String line : streamed.body().split("\n")) {
            if (line.startsWith("data: {") && line.contains("\"usage\"")) {
                streamUsage = json.readTree(line.substring(6)).get("usage");
            }
        }
        List<JsonNode> usages = List.of(json(base).get("usage"), json(intervened).get("usage"), streamUsage);
        int promptTokens = usages.stream().mapToInt(u -> u.get("prompt_tokens").asInt()).sum();
        int completionTokens = usages.stream().mapToInt(u -> u.get("completion_tokens").asInt()).sum();

        // The HTTP timer and the tenant counter record async calls when their response completes, just after
        // the client has read the last byte.
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            Scrape after = scrape();
            assertThat(after.names()).containsAll(EXPOSED);

            assertThat(moved(before, after, "reft_http_requests_seconds_count",
                    "method", "POST", "uri", "/v1/completions", "status", "200")).isEqualTo(3);
            assertThat(moved(before, after, "reft_http_requests_seconds_count",
                    "method", "POST", "uri", "/v1/completions", "status", "404")).isEqualTo(1);
            assertThat(moved(before, after, "reft_http_requests_seconds_count",
                    "method", "POST", "uri", "/v1/interventions", "status", "201")).isEqualTo(1);
            assertThat(moved(before, after, "reft_http_requests_seconds_count",
                    "method", "POST", "uri", "/v1/interventions", "status", "400")).isEqualTo(1);
            assertThat(after.matching("reft_http_requests_seconds_bucket", "uri", "/v1/completions", "status", "200")
                    .stream().map(s -> s.labels().get("le")).toList())
                    .contains("0.005", "0.1", "1.0", "10.0", "120.0", "+Inf");

            assertThat(after.sum("reft_tenant_requests_total", "tenant", tenant, "status", "200")).isEqualTo(3);
            assertThat(after.sum("reft_tenant_requests_total", "tenant", tenant, "status", "201")).isEqualTo(1);
            assertThat(after.sum("reft_tenant_requests_total", "tenant", tenant, "status", "400")).isEqualTo(1);
            assertThat(after.sum("reft_tenant_requests_total", "tenant", tenant, "status", "404")).isEqualTo(1);
        });
        Scrape after = scrape();

        assertThat(moved(before, after, "reft_bundle_uploads_total", "outcome", "accepted")).isEqualTo(1);
        assertThat(moved(before, after, "reft_bundle_uploads_total", "outcome", "rejected")).isEqualTo(1);
        assertThat(reason).isEqualTo("bad_zip");
        assertThat(moved(before, after, "reft_bundle_validation_failures_total", "reason", reason)).isEqualTo(1);
        assertThat(moved(before, after, "reft_bundle_cache_misses_total")).isPositive();
        assertThat(moved(before, after, "reft_bundle_cache_hits_total")).isPositive();
        assertThat(after.sum("reft_bundle_cache_size_bytes")).isPositive();
        assertThat(after.sum("reft_bundle_cache_entries")).isPositive();

        assertThat(after.sum("reft_tenant_prompt_tokens_total", "tenant", tenant)).isEqualTo(promptTokens);
        assertThat(after.sum("reft_tenant_generated_tokens_total", "tenant", tenant)).isEqualTo(completionTokens);
        assertThat(moved(before, after, "reft_prompt_tokens_total")).isEqualTo(promptTokens);
        assertThat(moved(before, after, "reft_generated_tokens_total")).isEqualTo(completionTokens);
        assertThat(moved(before, after, "reft_time_to_first_token_seconds_count")).isEqualTo(3);
        assertThat(moved(before, after, "reft_time_per_output_token_seconds_count")).isEqualTo(3);
        assertThat(moved(before, after, "reft_rows_finished_total", "reason", "length")).isEqualTo(3);
        assertThat(moved(before, after, "reft_engine_prefill_seconds_count")).isPositive();
        assertThat(moved(before, after, "reft_prefill_batch_size_count")).isPositive();
        assertThat(moved(before, after, "reft_engine_decode_step_seconds_count")).isPositive();
        assertThat(moved(before, after, "reft_batch_size_count")).isPositive();
        // bundle A: one LoReFT intervention at one position (l1) on each of the two intervened rows
        assertThat(moved(before, after, "reft_intervention_edit_relative_norm_count", "type", "loreft"))
                .isEqualTo(2);
        assertThat(after.sum("reft_kv_cache_capacity_tokens")).isPositive();
        assertThat(after.sum("reft_kv_cache_bytes")).isPositive();
        assertThat(after.sum("reft_queue_depth")).isZero();
        assertThat(after.sum("reft_running_rows")).isZero();
    }

    HttpResponse<String> completion(String key, String body) {
        HttpResponse<String> r = http().post("/v1/completions", key, body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return r;
    }

    static double moved(Scrape before, Scrape after, String name, String... labelPairs) {
        return after.sum(name, labelPairs) - before.sum(name, labelPairs);
    }
}

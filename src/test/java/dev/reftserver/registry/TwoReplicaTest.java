package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.ReftServerApplication;
import dev.reftserver.api.RegistryTestBeans;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Two full servers on one PostgreSQL database, as two replicas behind a load balancer: what is written through
 * one is seen by the other within a second, without a restart.
 */
class TwoReplicaTest {

    private static final String ADMIN = "replica-admin-key";
    private static TestPostgres db;
    private static ConfigurableApplicationContext one;
    private static ConfigurableApplicationContext two;
    private final HttpClient client = HttpClient.newHttpClient();
    private final JsonMapper json = JsonMapper.builder().build();

    /** A loaded bundle counting its closes. */
    record Loaded(byte[] bytes, AtomicInteger closed) implements AutoCloseable {
        @Override
        public void close() {
            closed.incrementAndGet();
        }
    }

    @BeforeAll
    static void startReplicas() {
        db = TestPostgres.open();
        one = replica();
        two = replica();
    }

    private static ConfigurableApplicationContext replica() {
        return new SpringApplicationBuilder(ReftServerApplication.class, RegistryTestBeans.class)
                .properties("server.port=0", "reft.security.admin-key=" + ADMIN,
                        "reft.store.jdbc-url=" + db.jdbcUrl(), "reft.store.username=" + db.user(),
                        "reft.store.password=" + db.password())
                .run();
    }

    @AfterAll
    static void stopReplicas() throws Exception {
        if (one != null) {
            one.close();
        }
        if (two != null) {
            two.close();
        }
        if (db != null) {
            db.close();
        }
    }

    @Test
    void uploadsDeletesAndKeysOnOneReplicaReachTheOtherWithinASecond() throws Exception {
        InterventionResolver resolverTwo = two.getBean(InterventionResolver.class);
        AtomicInteger closes = new AtomicInteger();
        BundleCache<Loaded> cacheTwo = new BundleCache<>(two.getBean(RegistryStore.class), 1 << 20,
                zip -> new Loaded(zip, closes), l -> l.bytes().length);

        JsonNode tenant = call(one, "POST", "/admin/tenants", ADMIN, "{\"name\":\"acme\"}", 201);
        String key = tenant.get("api_key").asString();
        // the key made on replica one works on replica two
        awaitTrue(() -> status(two, "GET", "/v1/interventions", key) == 200);

        byte[] zip = zip("v1");
        JsonNode uploaded = upload(one, key, zip);
        assertThat(uploaded.get("id").asString()).isEqualTo("sent@1");
        long start = System.nanoTime();
        awaitTrue(() -> {
            try {
                return resolverTwo.resolve("acme", "sent", null, null).appliedId().equals("sent@1");
            } catch (ModelNotFoundException e) {
                return false;
            }
        });
        try (var lease = resolverTwo.resolve("acme", "sent", null, null).acquire(cacheTwo)) {
            assertThat(lease.value().bytes()).isEqualTo(zip);
        }
        assertThat(cacheTwo.size()).isEqualTo(1);

        // a task defined on one routes on two
        call(one, "PUT", "/v1/tasks/summarize", key, "{\"intervention\":\"sent@1\"}", 200);
        awaitTrue(() -> resolverTwo.resolve("acme", "summarize", null, "u").task() != null);

        // a delete on one drops the loaded bundle on two (NOTIFY) and stops resolving there
        call(one, "DELETE", "/v1/tasks/summarize", key, null, 204);
        assertThat(status(one, "DELETE", "/v1/interventions/sent/versions/1", key)).isEqualTo(204);
        awaitTrue(() -> cacheTwo.size() == 0 && closes.get() == 1);
        assertThatThrownBy(() -> resolverTwo.resolve("acme", "sent", null, null))
                .isInstanceOf(ModelNotFoundException.class);

        // a deleted tenant's key stops working on two
        assertThat(status(one, "DELETE", "/admin/tenants/acme", ADMIN)).isEqualTo(204);
        awaitTrue(() -> status(two, "GET", "/v1/interventions", key) == 401);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(30));
    }

    @Test
    void aFineTuningJobOneReplicaRunsIsFollowedAndCancelledThroughTheOther() throws Exception {
        JsonNode tenant = call(one, "POST", "/admin/tenants", ADMIN, "{\"name\":\"trainer\"}", 201);
        String key = tenant.get("api_key").asString();
        awaitTrue(() -> status(two, "GET", "/v1/fine_tuning/jobs", key) == 200);
        String examples = "{\"prompt\": \"Once upon a time\", \"completion\": \" there was a frog.\"}\n".repeat(4);
        String boundary = "boundary43";
        HttpResponse<String> file = send(HttpRequest.newBuilder(URI.create("http://localhost:" + port(one)
                + "/v1/files")).header("Authorization", "Bearer " + key)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofString("--" + boundary + "\r\nContent-Disposition: form-data; "
                        + "name=\"purpose\"\r\n\r\nfine-tune\r\n--" + boundary + "\r\nContent-Disposition: "
                        + "form-data; name=\"file\"; filename=\"d.jsonl\"\r\n\r\n" + examples + "\r\n--" + boundary
                        + "--\r\n")).build());
        assertThat(file.statusCode()).as(file.body()).isEqualTo(200);
        String id = call(one, "POST", "/v1/fine_tuning/jobs", key, """
                {"model": "stories15M", "training_file": "%s", "method": {"type": "reft", "reft": {
                 "hyperparameters": {"layers": [2], "rank": 2, "batch_size": 4, "max_steps": 5000}}}}"""
                .formatted(json.readTree(file.body()).get("id").asString()), 200).get("id").asString();
        String job = "/v1/fine_tuning/jobs/" + id;
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!call(two, "GET", job, key, null, 200).get("status").asString().equals("running")) {
            assertThat(System.nanoTime()).as("running, seen through the other replica").isLessThan(deadline);
            Thread.sleep(20);
        }

        // Followed through the replica that does not run it: the stream ends once the job has.
        java.util.concurrent.CompletableFuture<HttpResponse<String>> live = client.sendAsync(HttpRequest.newBuilder(
                URI.create("http://localhost:" + port(two) + job + "/events?stream=true"))
                .header("Authorization", "Bearer " + key).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(call(two, "POST", job + "/cancel", key, null, 200).get("status").asString()).isEqualTo("running");
        HttpResponse<String> streamed = live.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(streamed.body().strip()).endsWith("data: [DONE]");
        assertThat(streamed.body()).contains("The job was cancelled after");
        for (ConfigurableApplicationContext replica : java.util.List.of(one, two)) {
            assertThat(call(replica, "GET", job, key, null, 200).get("status").asString()).isEqualTo("cancelled");
        }
        assertThat(status(one, "POST", job + "/cancel", key)).isEqualTo(409);
    }

    /** Polls for at most one second: the replicas' promise. */
    private static void awaitTrue(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("seen by the other replica within 1 s").isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    private static int port(ConfigurableApplicationContext ctx) {
        return ((WebServerApplicationContext) ctx).getWebServer().getPort();
    }

    private int status(ConfigurableApplicationContext ctx, String method, String path, String key) {
        return send(ctx, method, path, key, null, null).statusCode();
    }

    private JsonNode call(ConfigurableApplicationContext ctx, String method, String path, String key, String body,
            int expected) {
        HttpResponse<String> r = send(ctx, method, path, key, body, "application/json");
        assertThat(r.statusCode()).as(method + " " + path + ": " + r.body()).isEqualTo(expected);
        return r.body().isEmpty() ? null : json.readTree(r.body());
    }

    private JsonNode upload(ConfigurableApplicationContext ctx, String key, byte[] zip) {
        String boundary = "boundary42";
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nsent\r\n--"
                + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.zip\"\r\n"
                + "Content-Type: application/zip\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(zip);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://localhost:" + port(ctx) + "/v1/interventions"))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build();
        HttpResponse<String> r = send(req);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json.readTree(r.body());
    }

    private HttpResponse<String> send(ConfigurableApplicationContext ctx, String method, String path, String key,
            String body, String contentType) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port(ctx) + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        return send(b.build());
    }

    private HttpResponse<String> send(HttpRequest req) {
        try {
            return client.send(req, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static byte[] zip(String content) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            ZipEntry entry = new ZipEntry("reft.json");
            entry.setTime(0); // same content, same bytes: no clock in the zip
            z.putNextEntry(entry);
            z.write(content.getBytes(StandardCharsets.UTF_8));
            z.closeEntry();
        }
        return out.toByteArray();
    }
}

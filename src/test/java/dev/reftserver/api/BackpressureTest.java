package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A tiny engine (2 rows, 4 waiting) flooded by one tenant: the overflow answers 503 with Retry-After in OpenAI's
 * shape, and another tenant's single request still gets in and completes while the flood goes on.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + BackpressureTest.ADMIN_KEY,
        "reft.engine.max-queue=4",
        "reft.engine.max-batch-size=2"})
class BackpressureTest {

    static final String ADMIN_KEY = "backpressure-admin-key";
    private static final Path STORE = ServingTestSupport.storeDir("backpressure");
    private static final int FLOOD_CLIENTS = 40;
    private static final String LONG_PROMPT = "Once upon a time, there was a little girl named Lily. She loved to";

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    /** A 503 the flood got: its Retry-After header and body. */
    record Refused(Optional<String> retryAfter, String body) {
    }

    @Test
    void floodOverflowAnswers503WhileAnotherTenantStillGetsServed() throws Exception {
        Http http = new Http(port);
        String flooder = tenant(http, "flooder");
        String quiet = tenant(http, "quiet");
        ServingClient client = new ServingClient(port, json);

        AtomicBoolean flooding = new AtomicBoolean(true);
        ConcurrentLinkedQueue<Refused> refused = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Integer> otherStatuses = new ConcurrentLinkedQueue<>();
        AtomicInteger completed = new AtomicInteger();
        CountDownLatch firstRefusal = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(FLOOD_CLIENTS);
        List<Future<?>> flood = new ArrayList<>();
        try {
            // Each flood client resends once answered (a quarter second after a 503), so the queue stays full of
            // the flooder's requests for as long as the flood lasts.
            for (int i = 0; i < FLOOD_CLIENTS; i++) {
                flood.add(pool.submit(() -> {
                    while (flooding.get()) {
                        HttpResponse<String> r = client.complete(flooder, LONG_PROMPT, 200, Duration.ofSeconds(60));
                        if (r.statusCode() == 503) {
                            refused.add(new Refused(r.headers().firstValue("Retry-After"), r.body()));
                            firstRefusal.countDown();
                            Thread.sleep(250); // soon enough to refill the queue, rarely enough not to starve the engine
                        } else if (r.statusCode() == 200) {
                            completed.incrementAndGet();
                        } else {
                            otherStatuses.add(r.statusCode());
                        }
                    }
                    return null;
                }));
            }
            assertThat(firstRefusal.await(30, TimeUnit.SECONDS)).as("the flood overflowed the queue").isTrue();

            long t0 = System.nanoTime();
            HttpResponse<String> r = client.complete(quiet, "The dog", 8, Duration.ofSeconds(20));
            long millis = (System.nanoTime() - t0) / 1_000_000;
            assertThat(r.statusCode()).as("the quiet tenant's request during the flood: %s", r.body()).isEqualTo(200);
            assertThat(json.readTree(r.body()).get("usage").get("completion_tokens").asInt()).isEqualTo(8);
            assertThat(millis).as("ms for the quiet tenant's request").isLessThan(20_000);
            assertThat(flooding.get()).isTrue();
        } finally {
            flooding.set(false);
            pool.shutdown();
            if (!pool.awaitTermination(90, TimeUnit.SECONDS)) {
                pool.shutdownNow();
            }
        }
        for (Future<?> f : flood) {
            f.get(1, TimeUnit.SECONDS); // a flood client that threw fails the test here
        }

        assertThat(otherStatuses).isEmpty();
        assertThat(completed.get()).isPositive();
        assertThat(refused).isNotEmpty();
        for (Refused x : refused) {
            assertThat(x.retryAfter()).as("Retry-After of a 503").isPresent();
            assertThat(Integer.parseInt(x.retryAfter().orElseThrow())).isPositive();
            JsonNode error = json.readTree(x.body()).get("error");
            assertThat(error).as(x.body()).isNotNull();
            assertThat(error.get("code").asString()).isEqualTo("queue_full");
            assertThat(error.get("type").asString()).isEqualTo("server_overloaded");
            assertThat(error.get("message").asString()).contains("capacity");
            assertThat(error.has("param")).isTrue();
        }
    }

    private String tenant(Http http, String prefix) {
        String name = ServingTestSupport.unique(prefix);
        HttpResponse<String> r = http.post("/admin/tenants", ADMIN_KEY, "{\"name\":\"" + name + "\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json.readTree(r.body()).get("api_key").asString();
    }

    /** Completion calls with a per-request timeout, so no flood client can hang the test. */
    record ServingClient(HttpClient http, int port, JsonMapper json) {

        ServingClient(int port, JsonMapper json) {
            this(HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build(), port, json);
        }

        HttpResponse<String> complete(String key, String prompt, int maxTokens, Duration timeout) throws Exception {
            String body = "{\"model\":\"stories15M\",\"prompt\":" + json.writeValueAsString(prompt)
                    + ",\"max_tokens\":" + maxTokens + ",\"temperature\":0}";
            return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/completions"))
                    .header("Authorization", "Bearer " + key)
                    .header("Content-Type", "application/json")
                    .timeout(timeout)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
        }
    }
}

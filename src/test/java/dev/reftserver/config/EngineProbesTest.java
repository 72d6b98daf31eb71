package dev.reftserver.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.engine.ControllableModel;
import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.test.annotation.DirtiesContext;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The probes and the API see engine faults: a stuck engine takes liveness (and readiness) DOWN after
 * {@code reft.engine.stall-timeout} and back UP once it moves; a step that fails answers 500 in the API's error
 * shape and the server goes on serving. The engine runs the base model through a wrapper that injects the faults.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "reft.engine.stall-timeout=1s", "reft.store.path=target/test-stores/engine-probes"})
@DirtiesContext
class EngineProbesTest {

    @TestConfiguration
    static class FaultyModel {
        @Bean
        @Primary
        ControllableModel controllableModel(TransformerLM base) {
            return new ControllableModel(base);
        }
    }

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @Autowired
    TextTokenizer tokenizer;

    @Autowired
    ControllableModel model;

    @Autowired
    JsonMapper json;

    final HttpClient http = HttpClient.newHttpClient();

    HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> complete(boolean stream) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("""
                        {"model":"stories15M","prompt":"Once upon a time","max_tokens":4,"temperature":0,\
                        "stream":%s}""".formatted(stream)))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The first choice of a completion: its text and finish reason. */
    String choice(HttpResponse<String> r) {
        JsonNode c = json.readTree(r.body()).get("choices").get(0);
        return c.get("text").asString() + "|" + c.get("finish_reason").asString();
    }

    /** Polls {@code path} until it answers {@code status} or 15 s pass; returns the last answer. */
    HttpResponse<String> awaitStatus(String path, int status) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        HttpResponse<String> r = get(path);
        while (r.statusCode() != status && System.nanoTime() < deadline) {
            Thread.sleep(50);
            r = get(path);
        }
        return r;
    }

    @Test
    void livenessGoesDownWhileTheEngineIsStuckAndUpOnceItMovesAgain() throws Exception {
        assertThat(get("/actuator/health/liveness").statusCode()).isEqualTo(200);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<FinishReason> done = new CompletableFuture<>();
        // A listener that blocks holds the engine thread inside its step, as a hung model call would.
        scheduler.submit(List.of(new Generation("acme", tokenizer.encode("Once upon a time"),
                SamplingParams.greedy(4), null, new GenerationListener() {
                    @Override
                    public void onText(String delta) {
                        try {
                            release.await(60, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }

                    @Override
                    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                        done.complete(reason);
                    }
                }, TimeUnit.MINUTES.toNanos(2))));

        HttpResponse<String> liveness = awaitStatus("/actuator/health/liveness", 503);
        assertThat(liveness.statusCode()).isEqualTo(503);
        assertThat(liveness.body()).contains("\"status\":\"DOWN\"");
        assertThat(get("/actuator/health/readiness").statusCode()).isEqualTo(503);

        release.countDown();
        assertThat(done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(awaitStatus("/actuator/health/liveness", 200).statusCode()).isEqualTo(200);
        assertThat(get("/actuator/health/readiness").statusCode()).isEqualTo(200);
        assertThat(complete(false).statusCode()).isEqualTo(200);
    }

    @Test
    void anOutOfMemoryErrorInPrefillAnswers500AndTheNextRequestIsServed() throws Exception {
        HttpResponse<String> before = complete(false);
        assertThat(before.statusCode()).isEqualTo(200);

        model.failNextPrefill.set(new OutOfMemoryError("injected"));
        HttpResponse<String> failed = complete(false);
        assertThat(failed.statusCode()).isEqualTo(500);
        assertThat(failed.body()).contains("\"type\":\"server_error\"").contains("\"code\":\"engine_error\"");

        model.failNextPrefill.set(new OutOfMemoryError("injected"));
        HttpResponse<String> failedStream = complete(true);
        assertThat(failedStream.statusCode()).isEqualTo(200);
        assertThat(failedStream.body()).contains("\"code\":\"engine_error\"").endsWith("data: [DONE]\n\n");

        HttpResponse<String> after = complete(false);
        assertThat(after.statusCode()).isEqualTo(200);
        assertThat(choice(after)).isEqualTo(choice(before));
        assertThat(get("/actuator/health/liveness").statusCode()).isEqualTo(200);
        assertThat(get("/actuator/health/readiness").statusCode()).isEqualTo(200);
    }
}

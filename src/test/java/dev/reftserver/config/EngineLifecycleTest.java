package dev.reftserver.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;

/** The engine's readiness on stories15M: out of service until warm, and again from the moment draining starts. */
class EngineLifecycleTest {

    static TransformerLM model;
    static TextTokenizer tokenizer;

    Scheduler scheduler;
    List<Object> events = new CopyOnWriteArrayList<>();
    EngineLifecycle lifecycle;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @BeforeEach
    void newEngine() {
        scheduler = new Scheduler(model, tokenizer, new EngineSettings(4, 16, 4 * 256, Duration.ofMinutes(1),
                Duration.ofSeconds(30)), EngineMetrics.standalone(), null);
        lifecycle = new EngineLifecycle(scheduler, tokenizer, events::add);
    }

    @AfterEach
    void closeEngine() {
        scheduler.close();
    }

    static String state(Health h) {
        return (String) h.getDetails().get("state");
    }

    @Test
    void isOutOfServiceWhileWarmingAndUpOnceWarm() {
        Health warming = lifecycle.health();
        assertThat(warming.getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
        assertThat(state(warming)).isEqualTo("warming");
        assertThat(lifecycle.isRunning()).isFalse();

        lifecycle.start();

        Health ready = lifecycle.health();
        assertThat(ready.getStatus()).isEqualTo(Status.UP);
        assertThat(state(ready)).isEqualTo("ready");
        assertThat(lifecycle.isRunning()).isTrue();
    }

    @Test
    void isOutOfServiceAndRefusesTrafficFromTheMomentDrainingStarts() throws Exception {
        lifecycle.start();
        CountDownLatch firstText = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<FinishReason> finished = new CompletableFuture<>();
        scheduler.submit(List.of(new Generation("acme", tokenizer.encode("Once upon a time"),
                SamplingParams.greedy(8), null, new GenerationListener() {
                    @Override
                    public void onText(String delta) {
                        firstText.countDown();
                        // Holds the engine thread, so the row stays in flight while the test looks at the drain.
                        await(release);
                    }

                    @Override
                    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                        finished.complete(reason);
                    }
                }, TimeUnit.MINUTES.toNanos(1))));
        assertThat(firstText.await(30, TimeUnit.SECONDS)).isTrue();

        CompletableFuture<Void> stopping = CompletableFuture.runAsync(lifecycle::stop);
        // stop() marks the state, then announces it: wait for both
        while (lifecycle.state() != EngineLifecycle.State.DRAINING || events.isEmpty()) {
            Thread.onSpinWait();
        }
        Health draining = lifecycle.health();
        assertThat(draining.getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
        assertThat(state(draining)).isEqualTo("draining");
        assertThat(events).singleElement().isInstanceOfSatisfying(AvailabilityChangeEvent.class,
                e -> assertThat(e.getState()).isEqualTo(ReadinessState.REFUSING_TRAFFIC));
        assertThat(stopping).isNotDone();
        assertThat(finished).isNotDone();

        release.countDown();
        stopping.get(30, TimeUnit.SECONDS);
        // the row in flight was let finish, not cut
        assertThat(finished.get()).isEqualTo(FinishReason.LENGTH);
        Health stopped = lifecycle.health();
        assertThat(stopped.getStatus()).isEqualTo(Status.OUT_OF_SERVICE);
        assertThat(state(stopped)).isEqualTo("stopped");
    }

    @Test
    void aRestartAfterStopIsReadyAndAcceptsTrafficAgain() {
        lifecycle.start();
        assertThat(lifecycle.health().getStatus()).isEqualTo(Status.UP);
        assertThat(events).as("at first start Spring Boot itself accepts traffic when ready").isEmpty();

        lifecycle.stop();
        assertThat(lifecycle.isRunning()).isFalse();
        assertThat(lifecycle.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);

        lifecycle.start();
        assertThat(lifecycle.isRunning()).isTrue();
        assertThat(lifecycle.health().getStatus()).isEqualTo(Status.UP);
        assertThat(events).map(e -> ((AvailabilityChangeEvent<?>) e).getState().toString())
                .containsExactly("REFUSING_TRAFFIC", "ACCEPTING_TRAFFIC");
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

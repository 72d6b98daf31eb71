package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link Scheduler#fault()}: a stuck engine thread is told from an idle or a stopped one. */
class SchedulerStallTest {

    static TransformerLM base;
    static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        base = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        base.close();
    }

    static Scheduler scheduler(Duration stallTimeout) {
        return new Scheduler(base, tokenizer, new EngineSettings(2, 16, 2 * 256, Duration.ofMinutes(1),
                Duration.ofSeconds(5), stallTimeout), EngineMetrics.standalone(), null);
    }

    /** Polls until {@code fault} is present (or absent) or 10 s pass; returns the last answer. */
    static Optional<String> awaitFault(Supplier<Optional<String>> fault, boolean present) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        Optional<String> f = fault.get();
        while (f.isPresent() != present && System.nanoTime() < deadline) {
            Thread.sleep(20);
            f = fault.get();
        }
        return f;
    }

    @Test
    void aStepThatBlocksPastTheStallTimeoutIsAFaultUntilItCompletes() throws Exception {
        try (Scheduler scheduler = scheduler(Duration.ofSeconds(1))) {
            CountDownLatch release = new CountDownLatch(1);
            Collect stuck = new Collect() {
                @Override
                public void onText(String delta) {
                    super.onText(delta);
                    await(release);
                }
            };
            scheduler.submit(List.of(new Generation("acme", tokenizer.encode("Once upon a time"),
                    SamplingParams.greedy(4), null, stuck, TimeUnit.MINUTES.toNanos(1))));
            Optional<String> fault = awaitFault(scheduler::fault, true);
            assertThat(fault).hasValueSatisfying(f -> assertThat(f)
                    .startsWith("no engine step completed for").endsWith("with 1 rows running and 0 waiting"));

            release.countDown();
            assertThat(stuck.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(awaitFault(scheduler::fault, false)).isEmpty();
        }
    }

    @Test
    void anIdleEngineIsNoFaultHoweverLongItWaits() throws Exception {
        try (Scheduler scheduler = scheduler(Duration.ofMillis(1))) {
            Thread.sleep(300);
            assertThat(scheduler.fault()).isEmpty();
            // work that arrives after a long idle spell is not taken for a stall
            Collect out = new Collect();
            scheduler.submit(List.of(new Generation("acme", tokenizer.encode("Once upon a time"),
                    SamplingParams.greedy(2), null, out, TimeUnit.MINUTES.toNanos(1))));
            assertThat(out.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        }
    }

    @Test
    void anInterruptedEngineThreadGoesOnServing() throws Exception {
        try (Scheduler scheduler = scheduler(Duration.ofSeconds(1))) {
            CompletableFuture<Thread> engineThread = new CompletableFuture<>();
            Collect first = new Collect() {
                @Override
                public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                    engineThread.complete(Thread.currentThread());
                    super.onFinish(reason, promptTokens, completionTokens);
                }
            };
            scheduler.submit(List.of(new Generation("acme", tokenizer.encode("Once upon a time"),
                    SamplingParams.greedy(2), null, first, TimeUnit.MINUTES.toNanos(1))));
            assertThat(first.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            Thread engine = engineThread.get();
            Thread.sleep(200); // the engine is idle, waiting for work
            engine.interrupt();
            Thread.sleep(200);

            assertThat(engine.isAlive()).isTrue();
            assertThat(scheduler.fault()).isEmpty();
            Collect next = new Collect();
            scheduler.submit(List.of(new Generation("acme", tokenizer.encode("Once upon a time"),
                    SamplingParams.greedy(2), null, next, TimeUnit.MINUTES.toNanos(1))));
            assertThat(next.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(next.text.toString()).isEqualTo(first.text.toString());
        }
    }

    @Test
    void aDrainedEngineIsStoppedOnPurposeAndNoFault() {
        Scheduler scheduler = scheduler(Duration.ofSeconds(1));
        scheduler.drain();
        assertThat(scheduler.fault()).isEmpty();
        scheduler.close();
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Listeners run outside the scheduler's lock: one that waits on another thread's submit does not deadlock. */
class SchedulerListenerTest {

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

    static Generation row(GenerationListener listener, long timeoutNanos) {
        return new Generation("acme", tokenizer.encode("Once upon a time"), SamplingParams.greedy(4), null, listener,
                timeoutNanos);
    }

    @Test
    void aListenerCanWaitForAnotherThreadsSubmitWhileItsRowFinishes() throws Exception {
        try (Scheduler scheduler = new Scheduler(base, tokenizer, new EngineSettings(2, 16, 2 * 256,
                Duration.ofMinutes(1), Duration.ofSeconds(5)), EngineMetrics.standalone(), null)) {
            Collect next = new Collect();
            CompletableFuture<Boolean> submittedFromListener = new CompletableFuture<>();
            // Times out in the queue, so it finishes during planning, where the lock is held for the queue's sake.
            Collect waiter = new Collect() {
                @Override
                public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                    super.onFinish(reason, promptTokens, completionTokens);
                    CompletableFuture<Void> other = CompletableFuture.runAsync(
                            () -> scheduler.submit(List.of(row(next, TimeUnit.MINUTES.toNanos(1)))));
                    try {
                        other.get(5, TimeUnit.SECONDS);
                        submittedFromListener.complete(true);
                    } catch (Exception e) {
                        submittedFromListener.complete(false);
                    }
                }
            };
            scheduler.submit(List.of(row(waiter, 0)));

            assertThat(submittedFromListener.get(30, TimeUnit.SECONDS)).isTrue();
            assertThat(waiter.done.get()).isEqualTo(FinishReason.TIMEOUT);
            assertThat(next.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        }
    }
}

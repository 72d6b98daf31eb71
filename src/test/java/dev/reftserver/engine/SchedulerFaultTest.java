package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The engine on stories15M survives any {@link Throwable} in a step: the rows the failure touched finish with
 * ERROR, the others go on with the text they would have had anyway, and the next requests are served correctly.
 */
class SchedulerFaultTest {

    static final String PROMPT = "Once upon a time";
    static final String OTHER = "The little dog";

    static TransformerLM base;
    static TextTokenizer tokenizer;
    /** What each prompt's greedy 12 tokens read, from an engine that never failed. */
    static String expectedPrompt;
    static String expectedOther;

    ControllableModel model;
    Scheduler scheduler;

    @BeforeAll
    static void load() throws Exception {
        base = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
        try (Scheduler clean = newScheduler(base)) {
            expectedPrompt = run(clean, PROMPT);
            expectedOther = run(clean, OTHER);
        }
    }

    @AfterAll
    static void close() {
        base.close();
    }

    static Scheduler newScheduler(dev.reftserver.model.CausalLM m) {
        return new Scheduler(m, tokenizer, new EngineSettings(4, 16, 4 * 256, Duration.ofMinutes(1),
                Duration.ofSeconds(5)), EngineMetrics.standalone(), null);
    }

    static Generation row(String prompt, GenerationListener listener) {
        return new Generation("acme", tokenizer.encode(prompt), SamplingParams.greedy(12), null, listener,
                TimeUnit.MINUTES.toNanos(1));
    }

    /** Runs one row to its end and returns its text, which must have ended at max_tokens. */
    static String run(Scheduler s, String prompt) throws Exception {
        Collect c = new Collect();
        s.submit(List.of(row(prompt, c)));
        assertThat(c.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        return c.text.toString();
    }

    @BeforeEach
    void newEngine() {
        model = new ControllableModel(base);
        scheduler = newScheduler(model);
    }

    @AfterEach
    void closeEngine() {
        scheduler.close();
    }

    /** The engine is back where it started: no rows, no reserved tokens, no step arrays, a live thread. */
    void assertIdleAndHealthy() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (scheduler.runningRows() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(scheduler.runningRows()).isZero();
        assertThat(scheduler.waitingRows()).isZero();
        assertThat(scheduler.kvCacheUsedTokens()).isZero();
        assertThat(scheduler.liveStepArrays()).isZero();
        assertThat(scheduler.fault()).isEmpty();
    }

    /**
     * A prefill that fails in a step that also decodes the running row (one pass for both,
     * {@link ModelRunner#prefillAndDecode}) leaves that row's cache as it was: its decode step runs again alone and
     * every token's log-probability is that of the row run alone.
     */
    @Test
    void aFailedMixedStepLeavesTheRunningRowsCacheAsItWas() throws Exception {
        List<Float> clean = logprobsOfARunningRow(scheduler, false);
        List<Float> failed = logprobsOfARunningRow(scheduler, true);
        // Two runs of the same ops differ in the last bits (the products' memory alignment); a repeated token in the
        // cache changes them by 1e-2 and more.
        assertThat(failed).hasSize(12).usingElementComparator((a, b) -> Math.abs(a - b) <= 1e-4f ? 0 : 1)
                .containsExactlyElementsOf(clean);
        assertIdleAndHealthy();
    }

    /** The log-probability of each token of PROMPT's row, alone or joined after its first token by a newcomer. */
    private List<Float> logprobsOfARunningRow(Scheduler s, boolean failingNewcomer) throws Exception {
        CountDownLatch holdRunning = new CountDownLatch(1);
        List<Float> logprobs = new java.util.concurrent.CopyOnWriteArrayList<>();
        Collect running = new Collect() {
            @Override
            public void onText(String delta) {
                super.onText(delta);
                await(holdRunning);
            }

            @Override
            public void onTokenLogprobs(TokenLogprobs token) {
                logprobs.add(token.logprob());
            }
        };
        s.submit(List.of(new Generation("acme", tokenizer.encode(PROMPT), SamplingParams.greedy(12),
                Penalties.NONE, new LogprobsOptions(0, false), List.of(), null, running, TimeUnit.MINUTES.toNanos(1))));
        while (running.text.length() == 0) {
            Thread.sleep(1);
        }
        Collect newcomer = new Collect();
        if (failingNewcomer) {
            model.failNextPrefill.set(new OutOfMemoryError("injected"));
            s.submit(List.of(row(OTHER, newcomer)));
        }
        holdRunning.countDown();
        if (failingNewcomer) {
            assertThat(newcomer.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        }
        assertThat(running.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(running.text.toString()).isEqualTo(expectedPrompt);
        return logprobs;
    }

    @Test
    void anOutOfMemoryErrorInPrefillFailsOnlyTheNewcomersWhileTheRunningRowGoesOn() throws Exception {
        CountDownLatch holdRunning = new CountDownLatch(1);
        Collect running = new Collect() {
            @Override
            public void onText(String delta) {
                super.onText(delta);
                // the first text holds the engine until the newcomers are queued, so they meet it mid-generation
                await(holdRunning);
            }
        };
        scheduler.submit(List.of(row(PROMPT, running)));
        while (running.text.length() == 0) {
            Thread.sleep(1);
        }
        model.failNextPrefill.set(new OutOfMemoryError("injected"));
        Collect newcomer1 = new Collect();
        Collect newcomer2 = new Collect();
        scheduler.submit(List.of(row(OTHER, newcomer1), row(PROMPT, newcomer2)));
        holdRunning.countDown();

        assertThat(newcomer1.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        assertThat(newcomer2.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        assertThat(newcomer1.text.toString()).isEmpty();
        assertThat(running.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(running.text.toString()).isEqualTo(expectedPrompt);
        assertIdleAndHealthy();

        assertThat(run(scheduler, OTHER)).isEqualTo(expectedOther);
        assertThat(run(scheduler, PROMPT)).isEqualTo(expectedPrompt);
    }

    @Test
    void anErrorInDecodeFailsTheRunningRowsAndTheNextRequestIsServed() throws Exception {
        Collect first = new Collect();
        Collect second = new Collect();
        model.failNextDecode.set(new StackOverflowError("injected"));
        scheduler.submit(List.of(row(PROMPT, first), row(OTHER, second)));

        assertThat(first.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        assertThat(second.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        assertIdleAndHealthy();

        assertThat(run(scheduler, PROMPT)).isEqualTo(expectedPrompt);
        assertThat(run(scheduler, OTHER)).isEqualTo(expectedOther);
    }

    @Test
    void aRuntimeFailureInDecodeIsHandledTheSameWay() throws Exception {
        Collect first = new Collect();
        model.failNextDecode.set(new IllegalStateException("injected"));
        scheduler.submit(List.of(row(PROMPT, first)));

        assertThat(first.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        assertIdleAndHealthy();
        assertThat(run(scheduler, PROMPT)).isEqualTo(expectedPrompt);
    }

    @Test
    void aListenerThatThrowsAnErrorFailsOnlyItsOwnRow() throws Exception {
        Collect broken = new Collect() {
            @Override
            public void onText(String delta) {
                throw new OutOfMemoryError("injected in a listener");
            }
        };
        Collect neighbour = new Collect();
        scheduler.submit(List.of(row(OTHER, broken), row(PROMPT, neighbour)));

        assertThat(broken.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
        assertThat(neighbour.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(neighbour.text.toString()).isEqualTo(expectedPrompt);
        assertIdleAndHealthy();
        assertThat(run(scheduler, OTHER)).isEqualTo(expectedOther);
    }

    @Test
    void aListenerThatThrowsOnFinishStillFinishesItsRowAndFreesItsSlot() throws Exception {
        Collect broken = new Collect() {
            @Override
            public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                super.onFinish(reason, promptTokens, completionTokens);
                throw new AssertionError("injected in onFinish");
            }
        };
        scheduler.submit(List.of(row(PROMPT, broken)));

        assertThat(broken.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertIdleAndHealthy();
        assertThat(run(scheduler, PROMPT)).isEqualTo(expectedPrompt);
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

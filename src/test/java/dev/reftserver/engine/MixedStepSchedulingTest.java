package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Rows that arrive while others decode are prefilled in the same forward pass as the running rows' decode step (a
 * mixed step), and every row's text is the one it has alone (stories15M, greedy).
 */
class MixedStepSchedulingTest {

    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Tom and Lily went to the park");

    static TransformerLM model;
    static TextTokenizer tokenizer;

    @BeforeAll
    static void load() throws Exception {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static Scheduler scheduler(SimpleMeterRegistry registry) {
        return scheduler(registry, true);
    }

    private static Scheduler scheduler(SimpleMeterRegistry registry, boolean mixedSteps) {
        return new Scheduler(model, tokenizer, new EngineSettings(4, 16, 4 * 256, 0, Duration.ofMinutes(1),
                Duration.ofSeconds(5), EngineSettings.DEFAULT_STALL_TIMEOUT, mixedSteps),
                new EngineMetrics(registry, t -> t), null);
    }

    private static Generation row(String prompt, GenerationListener listener) {
        return new Generation("acme", tokenizer.encode(prompt), SamplingParams.greedy(24), null, listener,
                TimeUnit.MINUTES.toNanos(1));
    }

    @Test
    void rowsJoiningARunningRowArePrefilledBesideItsDecodeStepAndReadAsAlone() throws Exception {
        joinARunningRow(true);
    }

    /** {@code reft.engine.mixed-steps: false}: the prefill and the decode step one after the other, the same texts. */
    @Test
    void withoutMixedStepsTheyArePrefilledApartAndReadTheSame() throws Exception {
        joinARunningRow(false);
    }

    /** Each prompt's text, run alone. */
    private static String[] alone() throws Exception {
        String[] alone = new String[PROMPTS.size()];
        SimpleMeterRegistry quiet = new SimpleMeterRegistry();
        try (Scheduler s = scheduler(quiet)) {
            for (int i = 0; i < alone.length; i++) {
                Collect c = new Collect();
                s.submit(List.of(row(PROMPTS.get(i), c)));
                assertThat(c.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
                alone[i] = c.text.toString();
            }
        }
        assertThat(quiet.get("reft.engine.mixed.step").timer().count()).isZero();
        return alone;
    }

    /**
     * Rows queued while an idle engine prefills the first row of a burst are prefilled in the next step, in the
     * same pass as that row's first decode step: no step decodes the first row alone. 24 tokens each: the later rows
     * take their first in the mixed step, then 23 decode steps.
     */
    @Test
    void theRestOfABurstIsPrefilledBesideTheFirstRowsFirstDecodeStep() throws Exception {
        String[] alone = alone();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        ControllableModel held = new ControllableModel(model);
        try (Scheduler s = new Scheduler(held, tokenizer, new EngineSettings(4, 16, 4 * 256, Duration.ofMinutes(1),
                Duration.ofSeconds(5)), new EngineMetrics(registry, t -> t), null)) {
            CountDownLatch gate = held.holdNextPrefill();
            Collect[] all = {new Collect(), new Collect(), new Collect()};
            s.submit(List.of(row(PROMPTS.get(0), all[0])));
            assertThat(held.prefillEntered.await(30, TimeUnit.SECONDS)).isTrue();
            s.submit(List.of(row(PROMPTS.get(1), all[1])));
            s.submit(List.of(row(PROMPTS.get(2), all[2])));
            gate.countDown();
            for (int i = 0; i < all.length; i++) {
                assertThat(all[i].done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
                assertThat(all[i].text.toString()).as(PROMPTS.get(i)).isEqualTo(alone[i]);
            }
        }
        assertThat(registry.get("reft.engine.prefill").timer().count()).isEqualTo(1);
        assertThat(registry.get("reft.engine.mixed.step").timer().count()).isEqualTo(1);
        assertThat(registry.get("reft.engine.decode.step").timer().count()).isEqualTo(23);
    }

    private void joinARunningRow(boolean mixedSteps) throws Exception {
        String[] alone = alone();

        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Scheduler s = scheduler(registry, mixedSteps)) {
            CountDownLatch hold = new CountDownLatch(1);
            Collect first = new Collect() {
                @Override
                public void onText(String delta) {
                    super.onText(delta);
                    // The first text holds the engine until the others are queued: they meet this row mid-generation.
                    SchedulerFaultTest.await(hold);
                }
            };
            s.submit(List.of(row(PROMPTS.get(0), first)));
            while (first.text.length() == 0) {
                Thread.sleep(1);
            }
            Collect second = new Collect();
            Collect third = new Collect();
            Collect thirdAgain = new Collect();
            s.submit(List.of(row(PROMPTS.get(1), second)));
            // Two choices of one request: computed once, the second copying the first's cache.
            s.submit(List.of(row(PROMPTS.get(2), third), row(PROMPTS.get(2), thirdAgain)));
            hold.countDown();
            Collect[] all = {first, second, third, thirdAgain};
            for (int i = 0; i < all.length; i++) {
                assertThat(all[i].done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
                assertThat(all[i].text.toString()).as("row %d", i).isEqualTo(alone[Math.min(i, 2)]);
            }
        }
        long mixed = registry.get("reft.engine.mixed.step").timer().count();
        if (mixedSteps) {
            assertThat(mixed).isPositive();
        } else {
            assertThat(mixed).isZero();
        }
        assertThat(registry.get("reft.prefill.batch.size").summary().totalAmount()).isEqualTo(4);
    }
}

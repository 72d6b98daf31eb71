package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A prompt longer than one prefill pass ({@link TransformerLM#PREFILL_CHUNK}) is prefilled a pass per engine step:
 * the running rows keep decoding between its passes (one long prompt cannot hold every stream for its whole
 * prefill, or stall the engine's heartbeat), and its greedy tokens and its prompt's log-probabilities are those of
 * the prompt prefilled at once. On reference/models-next/llama3-rope (a 2,048-position context).
 */
class LongPromptPassesTest {

    private static final String MODEL = "reference/models-next/llama3-rope";
    private static final long TIMEOUT = TimeUnit.MINUTES.toNanos(2);

    /** A row's prompt entries and tokens; for each token, how many tokens another row had taken by then. */
    static final class Events extends EchoBatchTest.Sink {
        final List<Integer> seenOther = new CopyOnWriteArrayList<>();
        volatile Events other;

        @Override
        public void onTokenLogprobs(TokenLogprobs token) {
            super.onTokenLogprobs(token);
            seenOther.add(other == null ? 0 : other.tokens.size());
        }
    }

    @Test
    void runningRowsDecodeBetweenTheLongPromptsPassesAndItsTokensAreTheOneShotOnes() throws Exception {
        int[] longPrompt = ReferenceFiles.randomIds(7, 1_400);
        int[] shortPrompt = ReferenceFiles.randomIds(8, 12);
        EngineSettings settings = new EngineSettings(4, 64, 4 * 2048, Duration.ofMinutes(2), Duration.ofSeconds(5));
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(MODEL), "cpu", "float32");
                NDManager manager = NDManager.newBaseManager()) {
            int steps = 6;
            float[][] oneShot = new float[longPrompt.length][];
            int[] want = greedy(model, manager, longPrompt, steps, oneShot);
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            Events longRow = new Events();
            Events shortRow = new Events();
            longRow.other = shortRow;
            int before;
            try (Scheduler scheduler = new Scheduler(model, tokenizer, settings, EngineMetrics.standalone(), null)) {
                scheduler.submit(List.of(row(shortPrompt, 1_000, shortRow)));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (shortRow.tokens.size() < 2 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                before = shortRow.tokens.size();
                scheduler.submit(List.of(row(longPrompt, steps, longRow)));
                longRow.done.get(2, TimeUnit.MINUTES);
                shortRow.done.get(2, TimeUnit.MINUTES);
            }
            // Three passes (512, 512, 376 positions), a decode of the short row after each of the first two at
            // least; a prefill in one step would let at most the step already running decode it.
            assertThat(longRow.seenOther.get(0) - before).as("short row's tokens during the long prefill")
                    .isGreaterThanOrEqualTo(2);
            assertThat(longRow.tokens.stream().mapToInt(TokenLogprobs::id).toArray()).containsExactly(want);
            assertThat(longRow.prompt).hasSize(longPrompt.length);
            for (int t : new int[] {0, 1, 510, 511, 512, 513, 1023, 1024, 1398}) {
                TokenLogprobs expected = TokenLogprobs.of(oneShot[t], longPrompt[t + 1], 0);
                assertThat(longRow.prompt[t + 1].id()).isEqualTo(longPrompt[t + 1]);
                assertThat(longRow.prompt[t + 1].logprob()).as("prompt logprob of token %d", t + 1)
                        .isCloseTo(expected.logprob(), org.assertj.core.api.Assertions.within(1e-4f));
            }
            assertThat(shortRow.tokens).hasSize(1_000);
        }
    }

    @Test
    void aLongPromptCancelledBetweenPassesLeavesTheBatchRunning() throws Exception {
        int[] longPrompt = ReferenceFiles.randomIds(9, 2_000);
        int[] shortPrompt = ReferenceFiles.randomIds(10, 12);
        EngineSettings settings = new EngineSettings(4, 64, 4 * 2048, Duration.ofMinutes(2), Duration.ofSeconds(5));
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(MODEL), "cpu", "float32")) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            Events shortRow = new Events();
            Collect cancelled = new Collect();
            Generation longRow = new Generation("t", longPrompt, SamplingParams.greedy(8), Penalties.NONE,
                    LogprobsOptions.NONE, List.of(), null, cancelled, TIMEOUT);
            Events after = new Events();
            try (Scheduler scheduler = new Scheduler(model, tokenizer, settings, EngineMetrics.standalone(), null)) {
                scheduler.submit(List.of(row(shortPrompt, 400, shortRow)));
                scheduler.submit(List.of(longRow));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (scheduler.runningRows() < 2 && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                longRow.cancel();
                assertThat(cancelled.done.get(1, TimeUnit.MINUTES)).isEqualTo(FinishReason.CANCELLED);
                assertThat(cancelled.completionTokens).isZero();
                // The next long prompt takes the freed place and runs to its end beside the short row.
                scheduler.submit(List.of(row(ReferenceFiles.randomIds(11, 700), 3, after)));
                after.done.get(2, TimeUnit.MINUTES);
                shortRow.done.get(2, TimeUnit.MINUTES);
            }
            assertThat(after.tokens).hasSize(3);
            assertThat(shortRow.tokens).hasSize(400);
        }
    }

    /**
     * The choices of one request with a long prompt run its passes once: each gets the one-shot greedy tokens and
     * prompt log-probabilities, the prompt is counted once among prefilled tokens, and when the row running the
     * passes is cancelled midway another choice takes them over.
     */
    @Test
    void choicesOfALongPromptShareItsPassesAndOutliveTheFirst() throws Exception {
        int[] longPrompt = ReferenceFiles.randomIds(12, 1_300);
        EngineSettings settings = new EngineSettings(4, 64, 4 * 2048, Duration.ofMinutes(2), Duration.ofSeconds(5));
        io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(MODEL), "cpu", "float32");
                NDManager manager = NDManager.newBaseManager()) {
            int steps = 5;
            float[][] oneShot = new float[longPrompt.length][];
            int[] want = greedy(model, manager, longPrompt, steps, oneShot);
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            List<Events> sinks = List.of(new Events(), new Events(), new Events());
            List<Generation> rows = new java.util.ArrayList<>();
            for (Events sink : sinks) {
                rows.add(row(longPrompt, steps, sink));
            }
            try (Scheduler scheduler = new Scheduler(model, tokenizer, settings, new EngineMetrics(registry, t -> t),
                    null)) {
                scheduler.submit(rows);
                for (Events sink : sinks) {
                    sink.done.get(2, TimeUnit.MINUTES);
                }
            }
            for (Events sink : sinks) {
                assertThat(sink.tokens.stream().mapToInt(TokenLogprobs::id).toArray()).containsExactly(want);
                assertThat(sink.prompt[1300 - 1].logprob()).isCloseTo(
                        TokenLogprobs.of(oneShot[1298], longPrompt[1299], 0).logprob(),
                        org.assertj.core.api.Assertions.within(1e-4f));
            }
            assertThat(registry.get("reft.prompt.tokens").counter().count()).isEqualTo(longPrompt.length);

            // The row running the passes is cancelled after its first pass: the next choice goes on from there.
            List<Events> more = List.of(new Events(), new Events());
            List<Generation> again = List.of(row(longPrompt, steps, more.get(0)), row(longPrompt, steps, more.get(1)));
            try (Scheduler scheduler = new Scheduler(model, tokenizer, settings, EngineMetrics.standalone(), null)) {
                scheduler.submit(again);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (scheduler.runningRows() < 2 && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                again.get(0).cancel();
                more.get(1).done.get(2, TimeUnit.MINUTES);
                more.get(0).done.get(2, TimeUnit.MINUTES);
            }
            assertThat(more.get(0).tokens).isEmpty();
            assertThat(more.get(1).tokens.stream().mapToInt(TokenLogprobs::id).toArray()).containsExactly(want);
            for (int t : new int[] {0, 511, 512, 1298}) {
                assertThat(more.get(1).prompt[t + 1].logprob()).as("prompt logprob of token %d", t + 1).isCloseTo(
                        TokenLogprobs.of(oneShot[t], longPrompt[t + 1], 0).logprob(),
                        org.assertj.core.api.Assertions.within(1e-4f));
            }
        }
    }

    private static Generation row(int[] prompt, int maxTokens, GenerationListener sink) {
        return new Generation("t", prompt, SamplingParams.greedy(maxTokens), Penalties.NONE,
                new LogprobsOptions(0, true), List.of(), null, sink, TIMEOUT);
    }

    /** Greedy ids of the prompt prefilled at once (and the logits at each prompt position into {@code at}). */
    private static int[] greedy(TransformerLM model, NDManager manager, int[] prompt, int steps, float[][] at) {
        int[] out = new int[steps];
        try (NDManager step = manager.newSubManager(); KvCache cache = model.newCache(1, prompt.length + steps)) {
            int[] from = {0};
            model.prefill(step, new int[][] {prompt}, new int[] {0}, cache, BlockHook.NONE, from,
                    (row, position, logits) -> {
                        float[] block = logits.toFloatArray();
                        int vocab = (int) logits.getShape().get(1);
                        for (int k = 0; k < logits.getShape().get(0); k++) {
                            at[position + k] = Arrays.copyOfRange(block, k * vocab, (k + 1) * vocab);
                        }
                    });
            float[] logits = at[prompt.length - 1];
            for (int s = 0; s < steps; s++) {
                out[s] = ReferenceFiles.argmax(logits);
                if (s + 1 < steps) {
                    try (NDManager sub = step.newSubManager()) {
                        logits = model.decode(sub, new int[] {out[s]}, cache).toFloatArray();
                    }
                }
            }
        }
        return out;
    }
}

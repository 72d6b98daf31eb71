package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.LogprobsOptions;
import dev.reftserver.engine.Penalties;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A Phi-3 longrope row with a LoReFT intervention that grows past the original context (32) while it decodes: the
 * engine computes its cache again with the long factors and the intervention at the prompt's positions, so each
 * token equals the argmax of a whole-sequence forward of prompt + tokens so far with the intervention on the prompt
 * (the recompute transformers' Phi-3 means at that step, with the tenant's edit kept).
 */
class LongRopeRebuildInterventionTest {

    private static final int HIDDEN = 32;

    @Test
    void anInterventionRowIsRebuiltWithItsEditAtThePromptPositions() throws Exception {
        String dir = "reference/rope-scaling/phi3-longrope";
        int[] prompt = new int[26];
        Random ids = new Random(11);
        prompt[0] = 1;
        for (int i = 1; i < prompt.length; i++) {
            prompt[i] = 100 + ids.nextInt(20000);
        }
        int steps = 16;
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "float32");
                NDManager manager = NDManager.newBaseManager()) {
            LoadedBundle bundle = bundle(manager);
            // Expected: each step a fresh whole-sequence prefill with the edit on the prompt's positions.
            List<Integer> want = new ArrayList<>();
            int[] seq = prompt.clone();
            for (int s = 0; s < steps; s++) {
                int next = lastArgmax(model, manager, seq, new InterventionPlan(
                        List.of(new InterventionPlan.Row(bundle, prompt.length))));
                want.add(next);
                seq = append(seq, next);
            }
            // A rebuild that dropped the edit: the same tokens until the sequence passes 32, then no edit.
            List<Integer> dropped = new ArrayList<>(want.subList(0, 32 - prompt.length + 1));
            int[] rest = Arrays.copyOf(seq, 33);
            while (dropped.size() < steps) {
                int next = lastArgmax(model, manager, rest, null);
                dropped.add(next);
                rest = append(rest, next);
            }
            assertThat(want).as("a rebuild without the edit gives other tokens").isNotEqualTo(dropped);

            List<Integer> got = new ArrayList<>();
            CompletableFuture<FinishReason> done = new CompletableFuture<>();
            GenerationListener listener = new GenerationListener() {
                @Override
                public void onText(String delta) {
                }

                @Override
                public void onTokenLogprobs(TokenLogprobs token) {
                    got.add(token.id());
                }

                @Override
                public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                    done.complete(reason);
                }
            };
            EngineSettings settings = new EngineSettings(4, 16, 4 * 256, Duration.ofMinutes(2), Duration.ofSeconds(5));
            try (Scheduler scheduler = new Scheduler(model, TokenizerLoader.load(ReferenceFiles.stories15m()),
                    settings, EngineMetrics.standalone(), null)) {
                scheduler.submit(List.of(new Generation("t", prompt, SamplingParams.greedy(steps), Penalties.NONE,
                        new LogprobsOptions(1, false), List.of(new ScaledBundle(bundle, 1f)), null, listener,
                        TimeUnit.MINUTES.toNanos(2))));
                assertThat(done.get(2, TimeUnit.MINUTES)).isEqualTo(FinishReason.LENGTH);
            }
            assertThat(got).containsExactlyElementsOf(want);
        }
    }

    private static int lastArgmax(TransformerLM model, NDManager manager, int[] seq, InterventionPlan hook) {
        try (NDManager step = manager.newSubManager(); KvCache cache = model.newCache(1, seq.length)) {
            float[] logits = model.prefill(step, new int[][] {seq}, new int[] {0}, cache,
                    hook == null ? dev.reftserver.model.BlockHook.NONE : hook).toFloatArray();
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
    }

    private static int[] append(int[] a, int v) {
        int[] out = Arrays.copyOf(a, a.length + 1);
        out[a.length] = v;
        return out;
    }

    /** A strong LoReFT edit at layer 0, first 3 and last 3 prompt positions. */
    private static LoadedBundle bundle(NDManager manager) {
        return Fixtures.loreft(manager, HIDDEN, 2, "f3+l3", 0);
    }
}

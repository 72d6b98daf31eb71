package dev.reftserver.intervention;

import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Prompts longer than a prefill pass ({@link TransformerLM#PREFILL_CHUNK}) run in passes with their interventions
 * too: each pass edits its own positions (the last three of a 514-token prompt straddle the first two passes), and
 * the logits at every position equal those of the same prompts and edits in one pass.
 */
class ChunkedPrefillInterventionTest {

    private static final String MODEL = "reference/models-next/llama3-rope";
    private static final int HIDDEN = 32;
    private static final int LAYERS = 2;

    @Test
    void longPromptsWithInterventionsInPassesEqualOnePass() {
        int[][] prompts = {ReferenceFiles.randomIds(1, 1300), ReferenceFiles.randomIds(2, 600),
                ReferenceFiles.randomIds(3, 514), ReferenceFiles.randomIds(4, 40)};
        int[] slots = {0, 1, 2, 3};
        int[] from = {0, 599, 0, 39};
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(MODEL), "cpu", "float32", 2);
                NDManager manager = NDManager.newBaseManager()) {
            LoadedBundle bundle = bundle(manager);
            InterventionPlan plan = new InterventionPlan(List.of(
                    new InterventionPlan.Row(bundle, prompts[0].length),
                    new InterventionPlan.Row((LoadedBundle) null, prompts[1].length),
                    new InterventionPlan.Row(bundle, prompts[2].length),
                    new InterventionPlan.Row(bundle, prompts[3].length)));
            // The same edits through a hook that cannot be cut into passes: the model runs it in one pass.
            BlockHook whole = new BlockHook() {
                @Override
                public NDArray afterBlock(int layer, NDArray hidden) {
                    return plan.afterBlock(layer, hidden);
                }

                @Override
                public boolean touches(int layer) {
                    return plan.touches(layer);
                }
            };
            float[] inPasses = logits(model, manager, prompts, slots, from, plan);
            float[] onePass = logits(model, manager, prompts, slots, from, whole);
            float[] base = logits(model, manager, prompts, slots, from, BlockHook.NONE);
            assertThat(inPasses).hasSameSizeAs(onePass);
            assertThat(maxAbsDiff(inPasses, onePass)).isLessThanOrEqualTo(1e-4f);

            int vocab = model.config().vocabSize();
            // Row 0's logits come first, one per position; the edits reach every position after the first three.
            assertThat(maxAbsDiff(row(inPasses, vocab, 1299), row(base, vocab, 1299))).isGreaterThan(1e-2f);
            // Row 1 (no bundle) keeps the base model's logits.
            int row1 = prompts[0].length;
            assertThat(maxAbsDiff(row(inPasses, vocab, row1), row(base, vocab, row1))).isLessThanOrEqualTo(1e-4f);
        }
    }

    private static float[] logits(TransformerLM model, NDManager manager, int[][] prompts, int[] slots, int[] from,
            BlockHook hook) {
        int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        try (NDManager step = manager.newSubManager(); KvCache cache = model.newCache(prompts.length, longest)) {
            return model.prefill(step, prompts, slots, cache, hook, from).toFloatArray();
        }
    }

    private static float[] row(float[] logits, int vocab, int index) {
        return Arrays.copyOfRange(logits, index * vocab, (index + 1) * vocab);
    }

    private static LoadedBundle bundle(NDManager manager) {
        return Fixtures.loreft(manager, HIDDEN, LAYERS, "f3+l3", 0, 1);
    }
}

package dev.reftserver.intervention;

import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ModelShape;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
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
        int[][] prompts = {ids(1, 1300), ids(2, 600), ids(3, 514), ids(4, 40)};
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

    private static int[] ids(long seed, int length) {
        Random rnd = new Random(seed);
        int[] ids = new int[length];
        ids[0] = 1;
        for (int i = 1; i < length; i++) {
            ids[i] = 3 + rnd.nextInt(31_990);
        }
        return ids;
    }

    private static LoadedBundle bundle(NDManager manager) {
        Random rnd = new Random(5);
        int r = 4;
        FloatTensor rotate = PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, HIDDEN, r));
        FloatTensor weight = FloatTensor.of(PyreftDirs.gaussian(rnd, r * HIDDEN, 2.0), r, HIDDEN);
        FloatTensor bias = FloatTensor.of(PyreftDirs.gaussian(rnd, r, 4.0), r);
        ReftBundle bundle = new ReftBundle(HIDDEN, LAYERS, PositionSpec.parse("f3+l3"), false, List.of(
                new LoreftIntervention(0, ApplyTo.ALL, Activation.LINEAR, rotate, weight, bias),
                new LoreftIntervention(1, ApplyTo.ALL, Activation.LINEAR, rotate, weight, bias)));
        ModelShape shape = new ModelShape(HIDDEN, LAYERS);
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults())
                .importZip(NativeBundleFormat.write(bundle), shape, null, null);
        return LoadedBundle.load(imported.nativeZip(), shape, BundleLimits.defaults(), manager);
    }
}

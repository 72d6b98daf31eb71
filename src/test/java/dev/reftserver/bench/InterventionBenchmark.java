package dev.reftserver.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.intervention.BundleImporter;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.InterventionPlan;
import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ModelShape;
import dev.reftserver.model.TransformerLM;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The cost of interventions on the model alone: a batch of 16 rows prefilled and decoded on the base model, and
 * the same batch where every row carries its own LoReFT bundle (4 layers, f5+l5, rank 4). Rounds alternate so
 * both see the same machine state; prints medians and the with/without ratios as one JSON object.
 */
public final class InterventionBenchmark {

    public static void main(String[] args) {
        Path path = Path.of(args.length > 0 ? args[0] : "models/stories15M/stories15M.bin");
        int rows = 16;
        int promptLength = 48;
        int decodeSteps = 64;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 15;
        try (TransformerLM model = ModelLoader.load(path, "cpu", "float32");
                NDManager bundles = NDManager.newBaseManager()) {
            ModelShape shape = model.config().shape();
            BundleImporter importer = new BundleImporter(BundleLimits.defaults());
            List<LoadedBundle> loaded = new ArrayList<>();
            for (int i = 0; i < rows; i++) {
                byte[] zip = BenchBundles.loreft(1000 + i, shape.hiddenSize(), shape.numLayers(),
                        new int[] {1, 2, 3, 4}, 4, "f5+l5");
                loaded.add(LoadedBundle.load(importer.importZip(zip, shape, null, null).nativeZip(), shape,
                        BundleLimits.defaults(), bundles));
            }
            int[][] prompts = new int[rows][promptLength];
            for (int i = 0; i < rows; i++) {
                prompts[i][0] = 1;
                for (int t = 1; t < promptLength; t++) {
                    prompts[i][t] = 300 + (i * 131 + t * 37) % 20000;
                }
            }
            double[][] base = new double[rounds][];
            double[][] reft = new double[rounds][];
            for (int r = -3; r < rounds; r++) {
                double[] b = round(model, prompts, null, decodeSteps);
                double[] w = round(model, prompts, loaded, decodeSteps);
                if (r >= 0) {
                    base[r] = b;
                    reft[r] = w;
                }
            }
            double basePrefill = median(base, 0);
            double reftPrefill = median(reft, 0);
            double baseDecode = median(base, 1);
            double reftDecode = median(reft, 1);
            double baseTotal = basePrefill + baseDecode;
            double reftTotal = reftPrefill + reftDecode;
            long promptTokens = (long) rows * promptLength;
            long decodeTokens = (long) rows * decodeSteps;
            System.out.printf("{\"rows\":%d,\"prompt_tokens_per_row\":%d,\"decode_steps\":%d,\"rounds\":%d,"
                    + "\"base\":{\"prefill_tokens_per_s\":%.0f,\"decode_tokens_per_s\":%.0f,\"end_to_end_ms\":%.1f},"
                    + "\"reft_16_bundles\":{\"prefill_tokens_per_s\":%.0f,\"decode_tokens_per_s\":%.0f,"
                    + "\"end_to_end_ms\":%.1f},\"prefill_ratio\":%.3f,\"decode_ratio\":%.3f,"
                    + "\"end_to_end_ratio\":%.3f}%n",
                    rows, promptLength, decodeSteps, rounds,
                    promptTokens / basePrefill * 1e3, decodeTokens / baseDecode * 1e3, baseTotal,
                    promptTokens / reftPrefill * 1e3, decodeTokens / reftDecode * 1e3, reftTotal,
                    basePrefill / reftPrefill, baseDecode / reftDecode, baseTotal / reftTotal);
            loaded.forEach(LoadedBundle::close);
        }
    }

    /** One prefill of all rows then {@code steps} greedy decode steps; returns {prefill ms, decode ms}. */
    private static double[] round(TransformerLM model, int[][] prompts, List<LoadedBundle> bundles, int steps) {
        int n = prompts.length;
        int[] slots = new int[n];
        List<InterventionPlan.Row> plan = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            slots[i] = i;
            plan.add(new InterventionPlan.Row(bundles == null ? (LoadedBundle) null : bundles.get(i), prompts[i].length));
        }
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(n, 256)) {
            long t0 = System.nanoTime();
            BlockHook hook = bundles == null ? BlockHook.NONE : new InterventionPlan(plan);
            NDArray logits = model.prefill(step, prompts, slots, cache, hook);
            int[] next = ModelBenchmark.toInts(logits.argMax(1));
            long t1 = System.nanoTime();
            for (int s = 0; s < steps; s++) {
                try (NDManager sub = step.newSubManager()) {
                    next = ModelBenchmark.toInts(model.decode(sub, next, cache).argMax(1));
                }
            }
            long t2 = System.nanoTime();
            return new double[] {(t1 - t0) / 1e6, (t2 - t1) / 1e6};
        }
    }

    private static double median(double[][] v, int col) {
        double[] c = Arrays.stream(v).mapToDouble(r -> r[col]).sorted().toArray();
        return c[c.length / 2];
    }
}

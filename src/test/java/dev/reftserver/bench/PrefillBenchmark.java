package dev.reftserver.bench;

import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.TransformerLM;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * A long prompt's prefill on the model alone, in the server's chunks of {@link TransformerLM#PREFILL_CHUNK} tokens:
 * {@code PrefillBenchmark <model> [--dtype=float32] [--tokens=2048] [--runs=4]} loads the model (two threads),
 * prefills one row of {@code tokens} ids {@code runs} times after one warm-up and prints one JSON object with every
 * run's seconds. For checkpoints in real shapes (e.g. {@code RandomCheckpoint qwen2.5-0.5b}); see
 * docs/benchmarks.md.
 */
public final class PrefillBenchmark {

    public static void main(String[] args) {
        Path path = Path.of(args[0]);
        String dtype = option(args, "dtype", "float32");
        int tokens = Integer.parseInt(option(args, "tokens", "2048"));
        int runs = Integer.parseInt(option(args, "runs", "4"));
        try (TransformerLM model = ModelLoader.load(path, "cpu", dtype, 2)) {
            int[] ids = new int[tokens];
            for (int i = 0; i < tokens; i++) {
                ids[i] = 100 + (i * 37) % Math.max(1, Math.min(20_000, model.config().vocabSize() - 100));
            }
            prefillSeconds(model, ids);
            double[] s = new double[runs];
            for (int r = 0; r < runs; r++) {
                s[r] = prefillSeconds(model, ids);
            }
            double[] sorted = s.clone();
            Arrays.sort(sorted);
            System.out.printf(Locale.ROOT, "{\"model\":\"%s\",\"dtype\":\"%s\",\"prefill_tokens\":%d,"
                    + "\"prefill_s_median\":%.3f,\"prefill_s_runs\":%s}%n", path.getFileName(), dtype, tokens,
                    sorted[runs / 2], Arrays.toString(Arrays.stream(s).map(v -> Math.round(v * 1000) / 1000.0)
                            .toArray()));
        }
    }

    private static double prefillSeconds(TransformerLM model, int[] ids) {
        long t0 = System.nanoTime();
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, ids.length + 1)) {
            model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE).toFloatArray();
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    private static String option(String[] args, String name, String dflt) {
        for (String a : args) {
            if (a.startsWith("--" + name + "=")) {
                return a.substring(name.length() + 3);
            }
        }
        return dflt;
    }
}

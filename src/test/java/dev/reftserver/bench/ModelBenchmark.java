package dev.reftserver.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.TransformerLM;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Raw model speed on the default model: batch-1 greedy decode tokens/s and the latency of a 200-token prefill,
 * plus batched decode throughput. Prints one JSON object. Run: see docs/benchmarks.md.
 */
public final class ModelBenchmark {

    public static void main(String[] args) {
        Path path = Path.of(args.length > 0 ? args[0] : "models/stories15M/stories15M.bin");
        try (TransformerLM model = ModelLoader.load(path, "cpu", "float32")) {
            int[] prompt200 = new int[200];
            prompt200[0] = 1;
            for (int i = 1; i < 200; i++) {
                prompt200[i] = 300 + (i * 37) % 5000;
            }
            // Warm-up: until the JIT has compiled the step (about 10 s of decoding on this machine).
            long warmUntil = System.nanoTime() + 12_000_000_000L;
            while (System.nanoTime() < warmUntil) {
                prefillMs(model, prompt200);
                decodeTokensPerSecond(model, 1, 200);
                decodeTokensPerSecond(model, 16, 20);
            }
            double[] prefill = new double[15];
            for (int i = 0; i < prefill.length; i++) {
                prefill[i] = prefillMs(model, prompt200);
            }
            Arrays.sort(prefill);
            double decode1 = median(() -> decodeTokensPerSecond(model, 1, 200), 9);
            double decode16 = median(() -> decodeTokensPerSecond(model, 16, 100), 3);
            double decode32 = median(() -> decodeTokensPerSecond(model, 32, 100), 3);
            System.out.printf(
                    "{\"model\":\"%s\",\"prefill_200_ms_p50\":%.2f,\"prefill_200_ms_min\":%.2f,"
                            + "\"decode_batch1_tokens_per_s\":%.1f,\"decode_batch16_tokens_per_s\":%.1f,"
                            + "\"decode_batch32_tokens_per_s\":%.1f}%n",
                    path.getFileName(), prefill[prefill.length / 2], prefill[0], decode1, decode16, decode32);
        }
    }

    interface Measure {
        double run();
    }

    static double median(Measure m, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = m.run();
        }
        Arrays.sort(v);
        return v[n / 2];
    }

    static double prefillMs(TransformerLM model, int[] prompt) {
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, 256)) {
            long t0 = System.nanoTime();
            NDArray logits = model.prefill(step, new int[][] {prompt}, new int[] {0}, cache, BlockHook.NONE);
            logits.argMax().getLong();
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    static double decodeTokensPerSecond(TransformerLM model, int batch, int steps) {
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(batch, 256)) {
            int[][] prompts = new int[batch][];
            int[] slots = new int[batch];
            for (int i = 0; i < batch; i++) {
                prompts[i] = new int[] {1, 9038, 2501, 263, 931};
                slots[i] = i;
            }
            NDArray logits = model.prefill(step, prompts, slots, cache, BlockHook.NONE);
            int[] next = toInts(logits.argMax(1));
            long t0 = System.nanoTime();
            for (int s = 0; s < steps; s++) {
                try (NDManager sub = step.newSubManager()) {
                    next = toInts(model.decode(sub, next, cache).argMax(1));
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            return batch * steps / secs;
        }
    }

    static int[] toInts(NDArray a) {
        long[] l = a.toLongArray();
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            out[i] = (int) l[i];
        }
        return out;
    }
}

package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Random;

/**
 * bfloat16 against float32 weights for the projections of a decode step on this CPU: x [rows, in] times W [in, out]
 * on one libtorch thread (the model splits a step across cores itself), the bf16 operands made with
 * {@link Bfloat16Cast}. Prints one JSON line per shape and batch: microseconds per product, GB/s of weight streamed
 * and the bf16/fp32 time ratio. Not a unit test:
 * {@code java -cp $CP dev.reftserver.model.Bfloat16MatmulBench} (classpath as in docs/benchmarks.md).
 */
public final class Bfloat16MatmulBench {

    private Bfloat16MatmulBench() {
    }

    public static void main(String[] args) {
        // Qwen2.5-0.5B's MLP in and out, Llama-3.2-1B's MLP in, a vocabulary slice of the output layer.
        int[][] shapes = {{896, 4864}, {4864, 896}, {2048, 8192}, {896, 18992}};
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            JniUtils.setNumThreads(1);
            Random rnd = new Random(1);
            for (int[] s : shapes) {
                float[] w = new float[s[0] * s[1]];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) rnd.nextGaussian() * 0.02f;
                }
                NDArray w32 = m.create(w, new Shape(s[0], s[1]));
                long w16 = op.bfloat16(NativeOps.handle(w32));
                for (int rows : new int[] {1, 16}) {
                    NDArray x32 = m.randomNormal(new Shape(rows, s[0]));
                    long x16 = op.bfloat16(NativeOps.handle(x32));
                    double t32 = micros(NativeOps.handle(x32), NativeOps.handle(w32));
                    double t16 = micros(x16, w16);
                    System.out.printf("{\"in\":%d,\"out\":%d,\"rows\":%d,\"fp32_us\":%.1f,\"bf16_us\":%.1f,"
                            + "\"fp32_GBps\":%.1f,\"bf16_GBps\":%.1f,\"bf16_over_fp32_time\":%.2f}%n", s[0], s[1],
                            rows, t32, t16, 4.0 * w.length / t32 / 1e3, 2.0 * w.length / t16 / 1e3, t16 / t32);
                }
            }
        }
    }

    /** Mean microseconds per product over 300 runs after 50 of warm-up. */
    private static double micros(long x, long w) {
        for (int i = 0; i < 50; i++) {
            try (NativeOps op = new NativeOps()) {
                op.matmul(x, w);
            }
        }
        int n = 300;
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            try (NativeOps op = new NativeOps()) {
                op.matmul(x, w);
            }
        }
        return (System.nanoTime() - t0) / 1e3 / n;
    }
}

package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Locale;

/**
 * The greedy pick of a decode step: DJL's {@code argMax(1)} against {@link NativeOps#rowArgmax} on float32 logits
 * of real vocabularies, one libtorch thread, each timed alternately over the same array. Prints one JSON line per
 * shape: milliseconds per call and the ratio. Not a unit test:
 * {@code java -cp $CP dev.reftserver.model.ops.RowArgmaxBench} (classpath as in docs/benchmarks.md).
 */
public final class RowArgmaxBench {

    private RowArgmaxBench() {
    }

    public static void main(String[] args) {
        int[][] shapes = {{1, 151_936}, {16, 151_936}, {16, 32_000}, {32, 128_256}};
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            JniUtils.setNumThreads(1);
            for (int[] s : shapes) {
                NDArray logits = m.randomNormal(new Shape(s[0], s[1]));
                double djl = 0;
                double rows = 0;
                for (int round = 0; round < 6; round++) {
                    long t = System.nanoTime();
                    for (int i = 0; i < 20; i++) {
                        logits.argMax(1).close();
                    }
                    double a = (System.nanoTime() - t) / 20e6;
                    t = System.nanoTime();
                    for (int i = 0; i < 20; i++) {
                        try (NativeOps call = new NativeOps()) {
                            call.rowArgmax(NativeOps.handle(logits));
                        }
                    }
                    double b = (System.nanoTime() - t) / 20e6;
                    if (round >= 2) {
                        djl += a / 4;
                        rows += b / 4;
                    }
                }
                System.out.printf(Locale.ROOT, "{\"rows\": %d, \"vocab\": %d, \"djl_argmax_ms\": %.3f,"
                        + " \"row_argmax_ms\": %.3f, \"ratio\": %.2f}%n", s[0], s[1], djl, rows, rows / djl);
            }
        }
    }
}

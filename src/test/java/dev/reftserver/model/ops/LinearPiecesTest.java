package dev.reftserver.model.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A bfloat16 projection wider than one packed piece per part (a large vocabulary's output layer) on a team of two:
 * the whole product is every part's pieces in order (each converted straight into its columns of one output), the
 * same values as each part's own product joined, and the product of the bfloat16-rounded input and weights; so is
 * the whole weight as one part of three pieces.
 */
class LinearPiecesTest {

    @Test
    void aWideBfloat16ProjectionJoinsEveryPiecesOfEveryPartInOrder() {
        int in = 16;
        int out = 2 * Linear.PACKED_COLUMNS + 5_000;  // two parts of two pieces each
        int rows = 3;
        Random rnd = new Random(7);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian();
        }
        float[] x = new float[rows * in];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        try (NDManager manager = NDManager.newBaseManager(); CpuTeam team = CpuTeam.of(2);
                NativeOps op = new NativeOps()) {
            int[] cut = Split.ranges(out, 2);
            NDArray[] parts = new NDArray[2];
            float[] rounded = new float[w.length];
            for (int p = 0; p < 2; p++) {
                NDArray slice = manager.create(java.util.Arrays.copyOfRange(w, cut[p] * in, cut[p + 1] * in),
                        new Shape(cut[p + 1] - cut[p], in));
                long bf = op.bfloat16(NativeOps.handle(slice));
                float[] back = op.keep(op.float32(bf), manager).toFloatArray();
                System.arraycopy(back, 0, rounded, cut[p] * in, back.length);
                parts[p] = op.keep(op.copy(bf), manager);
            }
            Linear linear = Linear.packing(Linear.Cut.COLUMNS, parts, null);
            NDArray input = manager.create(x, new Shape(rows, in));
            long xh = NativeOps.handle(input);
            float[] whole = op.keep(linear.apply(op, team, xh), manager).toFloatArray();
            float[] xr = op.keep(op.float32(op.bfloat16(xh)), manager).toFloatArray();
            assertThat(whole).hasSize(rows * out);
            for (int p = 0; p < 2; p++) {
                float[] own = op.keep(linear.apply(op, xh, p), manager).toFloatArray();
                int width = cut[p + 1] - cut[p];
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < width; j++) {
                        assertThat(whole[r * out + cut[p] + j]).isEqualTo(own[r * width + j]);
                    }
                }
            }
            // A block's input [rows, tokens, in] gives the same values.
            float[] threeDims = op.keep(linear.apply(op, team, op.reshape(xh, 1, rows, in)), manager)
                    .toFloatArray();
            assertThat(threeDims).containsExactly(whole);
            // One part of several pieces (a one-core team) computes the same product.
            NDArray all = manager.create(w, new Shape(out, in));
            Linear solo = Linear.packing(Linear.Cut.COLUMNS,
                    new NDArray[] {op.keep(op.bfloat16(NativeOps.handle(all)), manager)}, null);
            float[] alone = op.keep(solo.apply(op, CpuTeam.of(1), xh), manager).toFloatArray();
            assertThat(alone).hasSize(rows * out);
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j += 997) {
                    assertThat(alone[r * out + j]).isCloseTo(whole[r * out + j],
                            org.assertj.core.data.Offset.offset(1e-3f * (1 + Math.abs(whole[r * out + j]))));
                }
            }
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j += 997) {
                    double dot = 0;
                    for (int k = 0; k < in; k++) {
                        dot += (double) xr[r * in + k] * rounded[j * in + k];
                    }
                    assertThat((double) whole[r * out + j]).as("row %d column %d", r, j)
                            .isCloseTo(dot, org.assertj.core.data.Offset.offset(8e-3 * (1 + Math.abs(dot))));
                }
            }
        }
    }
}

package dev.reftserver.model.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** bfloat16 tensors made and read back on the native side, where DJL's own conversion aborts the JVM. */
class Bfloat16CastTest {

    @Test
    void roundsToBfloat16AndComputesInIt() {
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            // 1 + 2^-9 is below bfloat16's 8-bit significand and rounds to 1; the others are exact.
            NDArray x = m.create(new float[] {1.5f, -3.25f, 1f + 0x1p-9f, 1f}, new Shape(2, 2));
            long b = op.bfloat16(NativeOps.handle(x));
            NDArray back = op.keep(op.float32(b), m);
            assertThat(back.toFloatArray()).containsExactly(1.5f, -3.25f, 1f, 1f);
            // [[1.5, -3.25], [1, 1]]^2 = [[2.25 - 3.25, -4.875 - 3.25], [2.5, -2.25]], all exact in bfloat16.
            long product = op.matmul(b, b);
            assertThat(op.keep(op.float32(product), m).toFloatArray()).containsExactly(-1f, -8.125f, 2.5f, -2.25f);
        }
    }
}

package dev.reftserver.model.checkpoint;

import dev.reftserver.model.checkpoint.InputMajor.Piece;
import dev.reftserver.model.ops.NativeOps;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Stored output-major matrices (HF's [out, in]) gathered into one bfloat16 matrix [sum of rows, cols], still
 * output-major, scaled in float32 and rounded: {@code out[j][i] = bf16((w_j[i] * outScale[j]) * inScale[i])}, row j
 * being an output row of one of the pieces, in order, and i running over {@code cols} input columns from the
 * piece's first. In one pass from the stored bytes into a new libtorch tensor: the same values a chain of libtorch
 * ops (read, {@code cat}, widen, two multiplies, round) gives, without its four intermediate arrays, each of them
 * fresh memory whose page faults cost more than the arithmetic on this machine.
 */
public final class OutputMajor {

    private OutputMajor() {
    }

    /** The pieces' rows as a new bfloat16 tensor owned by {@code op}; either scale may be null. */
    public static long bfloat16(NativeOps op, List<Piece> pieces, int cols, float[] outScale, float[] inScale) {
        long total = 0;
        for (Piece p : pieces) {
            InputMajor.check(p, cols);
            total += p.rows();
        }
        long result = op.emptyBfloat16(total, cols);
        ByteBuffer bytes = op.bytes(result);
        if (bytes.capacity() < total * cols * 2) {
            throw new IllegalStateException("a new bfloat16 tensor smaller than its shape");
        }
        long out = RawMemory.address(bytes);
        long j = 0;
        for (Piece p : pieces) {
            StoredRows src = p.source();
            int kind = InputMajor.kind(src.dtype());
            int width = kind == 0 ? 4 : 2;
            for (long r = 0; r < p.rows(); r++, j++) {
                long from = src.address(p.row() + r) + p.col() * width;
                long to = out + j * cols * 2;
                float s = outScale == null ? 1f : outScale[(int) j];
                for (int c = 0; c < cols; c++) {
                    float v = InputMajor.widened(kind, from + (long) c * width);
                    if (outScale != null) {
                        v *= s;
                    }
                    if (inScale != null) {
                        v *= inScale[c];
                    }
                    RawMemory.putShort(to + 2L * c, rounded(v));
                }
            }
        }
        return result;
    }

    /**
     * float32 to bfloat16 as libtorch rounds it: to nearest, ties to even; a NaN to the quiet NaN 0x7fc0 (c10's
     * scalar conversion; its vectorised one gives 0xffff: both NaN).
     */
    static short rounded(float v) {
        if (v != v) {
            return 0x7fc0;
        }
        int bits = Float.floatToRawIntBits(v);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}

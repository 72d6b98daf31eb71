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
        long result = op.emptyBfloat16(rows(pieces), cols);
        write(op.bytes(result), pieces, cols, outScale, inScale);
        return result;
    }

    /** Rows of all the pieces together. */
    public static long rows(List<Piece> pieces) {
        long total = 0;
        for (Piece p : pieces) {
            total += p.rows();
        }
        return total;
    }

    /**
     * The pieces' rows, bfloat16 [sum of rows, cols] row-major, into the first bytes of {@code target} (a direct
     * buffer, e.g. a reused tensor's; checked to be large enough); either scale may be null. With neither, stored
     * bfloat16 rows are copied as they are (widening and rounding would give the same bits for every non-NaN).
     */
    public static void write(ByteBuffer target, List<Piece> pieces, int cols, float[] outScale, float[] inScale) {
        long total = 0;
        for (Piece p : pieces) {
            InputMajor.check(p, cols);
            total += p.rows();
        }
        if (target.capacity() < total * cols * 2) {
            throw new IllegalStateException("a bfloat16 target smaller than " + total + " x " + cols);
        }
        if (outScale != null && outScale.length < total || inScale != null && inScale.length < cols) {
            throw new IllegalArgumentException("fewer scales than rows or columns");
        }
        long out = RawMemory.address(target);
        // One row at a time through arrays: a stored bfloat16 row is copied in, computed in a loop the JIT
        // compiles without per-element dispatch, and copied out (about twice as fast as element-wise raw access).
        short[] in = new short[cols];
        short[] row = new short[cols];
        float[] wide = new float[cols];
        long j = 0;
        for (Piece p : pieces) {
            StoredRows src = p.source();
            int kind = InputMajor.kind(src.dtype());
            int width = kind == 0 ? 4 : 2;
            for (long r = 0; r < p.rows(); r++, j++) {
                long from = src.address(p.row() + r) + p.col() * width;
                if (kind == 1 && outScale == null && inScale == null) {
                    // nothing to scale: the stored values are the result (a NaN keeps its payload)
                    RawMemory.copy(from, out + j * cols * 2, 2L * cols);
                    continue;
                }
                if (kind == 1) {
                    RawMemory.copyTo(from, in, cols);
                    widen(in, wide, cols);
                } else {
                    for (int c = 0; c < cols; c++) {
                        wide[c] = InputMajor.widened(kind, from + (long) c * width);
                    }
                }
                scaleAndRound(wide, outScale == null ? 1f : outScale[(int) j], outScale != null, inScale, row, cols);
                RawMemory.copyFrom(row, out + j * cols * 2, cols);
            }
        }
    }

    private static void widen(short[] in, float[] wide, int cols) {
        for (int c = 0; c < cols; c++) {
            wide[c] = Float.intBitsToFloat(in[c] << 16);
        }
    }

    /** {@code bf16((v * s) * g[c])} for each column, the products in that order (s skipped unless {@code scaled}). */
    private static void scaleAndRound(float[] v, float s, boolean scaled, float[] g, short[] row, int cols) {
        if (scaled) {
            for (int c = 0; c < cols; c++) {
                v[c] *= s;
            }
        }
        if (g != null) {
            for (int c = 0; c < cols; c++) {
                v[c] *= g[c];
            }
        }
        for (int c = 0; c < cols; c++) {
            row[c] = rounded(v[c]);
        }
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

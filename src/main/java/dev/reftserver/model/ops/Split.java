package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Arrays;

/**
 * Cutting weights into the parts a {@link CpuTeam} computes side by side: ranges of heads, channels or vocabulary,
 * and the row or column blocks of a row-major matrix that belong to one range.
 */
public final class Split {

    private Split() {
    }

    /** Part boundaries of [0, total) in {@code parts} near-equal ranges: part p is [b[p], b[p + 1]). */
    public static int[] ranges(int total, int parts) {
        int[] b = new int[parts + 1];
        for (int p = 0; p <= parts; p++) {
            b[p] = (int) ((long) total * p / parts);
        }
        return b;
    }

    /**
     * Rows {@code ids} of a table W [vocab, d] held as the column parts of W^T ({@code parts[p]} is [d, b[p + 1] -
     * b[p]], a {@link Linear} cut by output columns, as a tied output layer holds its embedding table): a new
     * [ids.length, d] tensor owned by {@code op}. Each part gives the rows of its ids, grouped by part; they are
     * then put back in the order asked.
     */
    public static long gatherColumns(NativeOps op, NDManager step, NDArray[] parts, int[] b, long[] ids) {
        int[] count = new int[parts.length + 1];
        int[] partOf = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            partOf[i] = partOf(b, ids[i]);
            count[partOf[i] + 1]++;
        }
        for (int p = 0; p < parts.length; p++) {
            count[p + 1] += count[p];
        }
        long[] local = new long[ids.length];
        long[] where = new long[ids.length];
        int[] next = count.clone();
        boolean grouped = true;
        for (int i = 0; i < ids.length; i++) {
            int p = partOf[i];
            where[i] = next[p];
            grouped &= where[i] == i;
            local[next[p]++] = ids[i] - b[p];
        }
        long[] pieces = new long[parts.length];
        int n = 0;
        for (int p = 0; p < parts.length; p++) {
            if (count[p + 1] > count[p]) {
                long index = NativeOps.handle(step.create(Arrays.copyOfRange(local, count[p], count[p + 1])));
                pieces[n++] = op.take(op.permute(NativeOps.handle(parts[p]), 1, 0), index);
            }
        }
        long rows = n == 1 ? pieces[0] : op.cat(Arrays.copyOf(pieces, n), 0);
        return grouped ? rows : op.take(rows, NativeOps.handle(step.create(where)));
    }

    /** The part whose range of {@link #ranges} boundaries {@code b} holds {@code i}. */
    public static int partOf(int[] b, long i) {
        if (i < b[0] || i >= b[b.length - 1]) {
            throw new IllegalArgumentException(i + " is outside [" + b[0] + ", " + b[b.length - 1] + ")");
        }
        int p = 0;
        while (i >= b[p + 1]) {
            p++;
        }
        return p;
    }

    /** The largest divisor of {@code n} that is at most {@code max} (heads split only in whole groups). */
    public static int largestDivisorAtMost(int n, int max) {
        for (int p = Math.min(n, max); p > 1; p--) {
            if (n % p == 0) {
                return p;
            }
        }
        return 1;
    }

    /** Rows [r0, r1) of a row-major matrix with {@code cols} columns. */
    public static float[] rows(float[] w, int cols, int r0, int r1) {
        float[] out = new float[(r1 - r0) * cols];
        System.arraycopy(w, r0 * cols, out, 0, out.length);
        return out;
    }

    /** Columns [c0, c1) of a row-major [rows, cols] matrix, as a row-major [rows, c1 - c0] matrix. */
    public static float[] columns(float[] w, int rows, int cols, int c0, int c1) {
        int width = c1 - c0;
        float[] out = new float[rows * width];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(w, r * cols + c0, out, r * width, width);
        }
        return out;
    }

    /** Elements [from, to) of a vector. */
    public static float[] range(float[] v, int from, int to) {
        float[] out = new float[to - from];
        System.arraycopy(v, from, out, 0, out.length);
        return out;
    }

    /** Transposes a row-major [rows, cols] matrix to [cols, rows] (a weight to the input-major layout of {@link
     * Linear}). */
    public static float[] transpose(float[] w, int rows, int cols) {
        float[] t = new float[w.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = w[r * cols + c];
            }
        }
        return t;
    }
}

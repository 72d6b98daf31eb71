package dev.reftserver.model.llama;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.Rope;
import dev.reftserver.model.ops.NativeOps;

/**
 * RoPE as HF's rotary module computes it, in tables: cos and sin rows of head_dim for every position. HF's
 * {@code y * cos + rotate_half(y) * sin}, with {@code rotate_half(y) = cat(-y2, y1)} over the rotating channels, is
 * computed here as {@code y * cos + swapHalves(y) * sin'}: the sign of rotate_half moves into the table ({@code sin'}
 * is sin with the first half of the rotating channels negated), and swapping the halves is one concatenation of two
 * views. Each product is then the same float as HF's ({@code y2 * -s} is exactly {@code -y2 * s}). Dynamic scaling changes the frequencies only for sequences past
 * max_position_embeddings, a context this runtime never exceeds (TransformerLM.newCache). Longrope's short factors
 * serve sequences within the original context only, so their rows stop there, and the long factors' rows for every
 * position follow from {@code longRopeFrom} ({@link #offset} picks per sequence).
 *
 * @param sin          sin' above: sin with its first {@code rotaryDim / 2} channels negated
 * @param rotaryDim    the channels that rotate (head_dim, or fewer with a partial rotary factor)
 * @param longRopeFrom the row where longrope's long rows start; -1 without longrope
 */
record RopeTables(NDArray cos, NDArray sin, int headDim, int rotaryDim, int longRopeFrom) {

    static RopeTables of(ModelConfig c, Placement place, DataType dtype) {
        return of(c, c.rope(), place, dtype);
    }

    /** The tables of {@code rope} (the model's, or Gemma 3's for its sliding-window layers). */
    static RopeTables of(ModelConfig c, Rope rope, Placement place, DataType dtype) {
        int hd = c.headDim();
        int maxPos = c.maxPositions();
        int rd = rope.rotaryDim(hd);
        boolean longRope = rope.type() == Rope.Type.LONGROPE;
        int shortRows = longRope ? Math.min(rope.originalMaxPositions(), maxPos) : maxPos;
        float[] inv = rope.inverseFrequencies(rd, longRope ? rope.originalMaxPositions() : maxPos);
        NDArray cos;
        NDArray sin;
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray cosRows = rope.table(m, inv, shortRows, hd, true);
            NDArray sinRows = rope.table(m, inv, shortRows, hd, false);
            if (longRope) {
                float[] longInv = rope.inverseFrequencies(rd, rope.originalMaxPositions() + 1);
                cosRows = cosRows.concat(rope.table(m, longInv, maxPos, hd, true), 0);
                sinRows = sinRows.concat(rope.table(m, longInv, maxPos, hd, false), 0);
            }
            // The channels that do not rotate have cos 1 and sin 0 in the tables, so they pass through.
            float[] sign = new float[hd];
            java.util.Arrays.fill(sign, 1f);
            java.util.Arrays.fill(sign, 0, rd / 2, -1f);
            cos = place.keepTable(cosRows, dtype);
            sin = place.keepTable(sinRows.mul(m.create(sign)), dtype);
        }
        return new RopeTables(cos, sin, hd, rd, longRope ? shortRows : -1);
    }

    /**
     * y [..., head_dim] with the halves of its rotating channels swapped ({@code cat(y2, y1, rest)} along the last
     * dimension), a new array owned by {@code op}: rotate_half(y) once multiplied by {@link #sin}.
     */
    long swapHalves(NativeOps op, long y, int dims) {
        int last = dims - 1;
        int half = rotaryDim / 2;
        long first = op.slice(y, last, 0, half);
        long second = op.slice(y, last, half, rotaryDim);
        long[] parts = rotaryDim == headDim ? new long[] {second, first}
                : new long[] {second, first, op.slice(y, last, rotaryDim, headDim)};
        return op.cat(parts, last);
    }

    /** As {@link #swapHalves(NativeOps, long, int)}, on a DJL array (training, where autograd follows it). */
    NDArray swapHalves(NDArray y) {
        int half = rotaryDim / 2;
        ai.djl.ndarray.NDList parts = new ai.djl.ndarray.NDList(y.get("..., " + half + ":" + rotaryDim),
                y.get("..., 0:" + half));
        if (rotaryDim < headDim) {
            parts.add(y.get("..., " + rotaryDim + ":"));
        }
        return ai.djl.ndarray.NDArrays.concat(parts, -1);
    }

    /** The first row a sequence of {@code length} positions reads: longrope's long rows for a long one, else 0. */
    long offset(Rope rope, int length) {
        return longRopeFrom >= 0 && rope.longFactors(length) ? longRopeFrom : 0;
    }
}

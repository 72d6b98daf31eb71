package dev.reftserver.model.llama;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.Rope;

/**
 * RoPE as HF's rotary module computes it, in tables: cos and sin rows of head_dim for every position, and
 * rotate_half as a matrix. Dynamic scaling changes the frequencies only for sequences past
 * max_position_embeddings, a context this runtime never exceeds (TransformerLM.newCache). Longrope's short factors
 * serve sequences within the original context only, so their rows stop there, and the long factors' rows for every
 * position follow from {@code longRopeFrom} ({@link #offset} picks per sequence).
 *
 * @param longRopeFrom the row where longrope's long rows start; -1 without longrope
 */
record RopeTables(NDArray cos, NDArray sin, NDArray rotateHalf, int longRopeFrom) {

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
            cos = place.keepTable(cosRows, dtype);
            sin = place.keepTable(sinRows, dtype);
        }
        int half = rd / 2;
        // rotate_half(y) = cat(-y2, y1) over the rotating channels = y R, with R a signed permutation: one matmul
        // instead of a flip of a view and two reshapes (each product is one +-y times 1 plus zeros, so the result
        // is exact; the channels that do not rotate get 0, and the tables' cos 1, sin 0 pass them through).
        float[] r = new float[hd * hd];
        for (int j = 0; j < half; j++) {
            r[(j + half) * hd + j] = -1f;
            r[j * hd + j + half] = 1f;
        }
        return new RopeTables(cos, sin, place.load(r, dtype, hd, hd), longRope ? shortRows : -1);
    }

    /** The first row a sequence of {@code length} positions reads: longrope's long rows for a long one, else 0. */
    long offset(Rope rope, int length) {
        return longRopeFrom >= 0 && rope.longFactors(length) ? longRopeFrom : 0;
    }
}

package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The index arrays and additive masks a {@link StepBatch} is built from: where a step's keys and values go in the
 * {@link KvCache}'s flat arrays, and which keys each query sees (causal, within a row's length, within a sliding
 * window).
 */
public final class StepMasks {

    private StepMasks() {
    }

    /**
     * Flat indices into a part's keys viewed as one vector: ((slot*kvHeads + head)*headDim + j)*capacity + pos for
     * row i's t-th position {@code at[i * tokens + t]}, in the order of keys [n, kv_heads, head_dim, tokens].
     */
    static long[] keyIndex(KvCache cache, int[] slots, int tokens, long[] at) {
        int kvHeads = cache.kvHeads();
        int hd = cache.headDim();
        long capacity = cache.capacity();
        long[] index = new long[slots.length * kvHeads * hd * tokens];
        int k = 0;
        for (int i = 0; i < slots.length; i++) {
            for (int h = 0; h < kvHeads; h++) {
                long head = (long) slots[i] * kvHeads + h;
                for (int j = 0; j < hd; j++) {
                    for (int t = 0; t < tokens; t++) {
                        index[k++] = (head * hd + j) * capacity + at[i * tokens + t];
                    }
                }
            }
        }
        return index;
    }

    /** Flat row indices into a part's values viewed as [rows * kv_heads * capacity, head_dim]. */
    static long[] valueIndex(KvCache cache, int[] slots, int tokens, long[] at) {
        int kvHeads = cache.kvHeads();
        long capacity = cache.capacity();
        long[] index = new long[slots.length * kvHeads * tokens];
        int k = 0;
        for (int i = 0; i < slots.length; i++) {
            for (int h = 0; h < kvHeads; h++) {
                long head = (long) slots[i] * kvHeads + h;
                for (int t = 0; t < tokens; t++) {
                    index[k++] = head * capacity + at[i * tokens + t];
                }
            }
        }
        return index;
    }

    /**
     * Query t of row i (at position start + t) sees keys j &lt;= start + t with j &lt; start + len_i and, in a
     * layer with a sliding window w (&gt; 0), start + t - w &lt; j (HF's sliding_window_causal mask); padding
     * queries see the row's keys. Shape [n, 1, 1, tokens, start + tokens]. With every length = tokens, start 0 and
     * no window, the plain causal mask.
     */
    public static NDArray prefillMask(NDManager step, int[] lengths, int tokens, int start, int window,
            DataType dtype) {
        int n = lengths.length;
        int keys = start + tokens;
        float[] mask = new float[n * tokens * keys];
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < tokens; t++) {
                int q = start + t;
                for (int j = 0; j < keys; j++) {
                    // Padding queries (t >= len_i) ignore the window: a row of nothing but -inf would make NaNs,
                    // which reach real positions through the padding keys in the next layer (NaN + -inf).
                    boolean visible = j <= q && j < start + lengths[i]
                            && (window == 0 || q - window < j || t >= lengths[i]);
                    mask[(i * tokens + t) * keys + j] = visible ? 0f : Float.NEGATIVE_INFINITY;
                }
            }
        }
        return step.create(mask, new Shape(n, 1, 1, tokens, keys)).toType(dtype, false);
    }

    static NDArray decodeMask(NDManager step, long[] pos, int keyLength, int window, DataType dtype) {
        int n = pos.length;
        float[] m = new float[n * keyLength];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < keyLength; j++) {
                boolean visible = j <= pos[i] && (window == 0 || pos[i] - window < j);
                m[i * keyLength + j] = visible ? 0f : Float.NEGATIVE_INFINITY;
            }
        }
        return step.create(m, new Shape(n, 1, 1, keyLength)).toType(dtype, false);
    }
}

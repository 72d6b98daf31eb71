package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ops.Views;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Everything one forward call's attention needs, built once per call and shared by all layers: positions,
 * the additive mask, where new keys/values go in the cache, and how much of the cache to read.
 *
 * <p>Prefill: {@code n} right-padded rows of {@code tokens} positions each, starting at position 0; query t of
 * row i sees keys j &lt;= t with j &lt; len_i. Decode: one new token for each of slots [0, n) at position
 * len_i; it sees the cached keys [0, len_i] of its own row.
 */
public final class AttentionContext {

    private final NDManager step;
    private final DataType dtype;
    private final KvCache cache;
    private final boolean prefill;
    private final int rows;
    private final int tokens;
    private final long[] positionValues;
    private NDArray positions;
    /** The additive mask of layers attending to all keys (null in a decode step with all rows at one position). */
    private final NDArray mask;
    /** Masks of sliding-window layers, by window (absent where the window changes nothing this call). */
    private final Map<Integer, NDArray> windowMasks = new HashMap<>();
    private final BlockOptions block;
    /** 1/cap and cap as 0-dim float32 arrays, for the raw-handle decode path; null without soft-capping. */
    private NDArray capInverse;
    private NDArray cap;
    private final NDIndex keyWrite;
    private final NDIndex valueWrite;
    private final int keyLength;
    /** In a decode step whose rows are all at one position, that position; otherwise -1. */
    private int samePosition = -1;
    /** A prefill's cache slots, row by row, and the position its tokens start at. */
    private int[] slots;
    private int start;
    private final Map<String, NDArray> memo = new HashMap<>();
    private final List<NDManager> partManagers = new ArrayList<>();

    private AttentionContext(NDManager step, BlockOptions block, KvCache cache, boolean prefill, int rows,
            int tokens, int keyLength, long[] positions, NDArray mask, NDArray keyWrite, NDArray valueWrite,
            DataType dtype) {
        this.step = step;
        this.block = block;
        if (block.attnSoftcap() > 0) {
            capInverse = step.create((float) (1.0 / block.attnSoftcap()));
            cap = step.create((float) block.attnSoftcap());
        }
        this.dtype = dtype;
        this.cache = cache;
        this.prefill = prefill;
        this.rows = rows;
        this.tokens = tokens;
        this.positionValues = positions;
        this.mask = mask;
        // Built once per call and shared by every layer: parsing an index costs more than using it.
        this.keyWrite = keyWrite == null ? null : new NDIndex("{}", keyWrite);
        this.valueWrite = valueWrite == null ? null : new NDIndex("{}", valueWrite);
        this.keyLength = keyLength;
    }

    /**
     * A prefill of {@code tokens} positions per row starting at position {@code start} of every row (0 for a whole
     * prompt, the chunk's offset in a chunked prefill, whose earlier positions are already in the cache).
     */
    static AttentionContext prefill(NDManager step, BlockOptions block, KvCache cache, int[] slots, int[] lengths,
            int tokens, int start, DataType dtype) {
        int n = lengths.length;
        long[] pos = new long[n * tokens];
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < tokens; t++) {
                pos[i * tokens + t] = start + t;
            }
        }
        int kvHeads = cache.kvHeads();
        int hd = cache.headDim();
        long maxT = cache.capacity();
        long[] keyWrite = new long[n * kvHeads * hd * tokens];
        long[] valueWrite = new long[n * kvHeads * tokens];
        int kw = 0;
        int vw = 0;
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < kvHeads; h++) {
                long head = (long) slots[i] * kvHeads + h;
                for (int j = 0; j < hd; j++) {
                    long base = (head * hd + j) * maxT + start;
                    for (int t = 0; t < tokens; t++) {
                        keyWrite[kw++] = base + t;
                    }
                }
                for (int t = 0; t < tokens; t++) {
                    valueWrite[vw++] = head * maxT + start + t;
                }
            }
        }
        int keyLength = start + tokens;
        AttentionContext ctx = new AttentionContext(step, block, cache, true, n, tokens, keyLength, pos,
                prefillMask(step, lengths, tokens, start, 0, dtype), step.create(keyWrite), step.create(valueWrite),
                dtype);
        ctx.slots = slots.clone();
        ctx.start = start;
        for (int w : block.slidingWindows()) {
            if (w > 0 && w < keyLength && !ctx.windowMasks.containsKey(w)) {
                ctx.windowMasks.put(w, prefillMask(step, lengths, tokens, start, w, dtype));
            }
        }
        return ctx;
    }

    /**
     * Query t of row i (at position start + t) sees keys j &lt;= start + t with j &lt; start + len_i and, in a
     * layer with a sliding window w (&gt; 0), start + t - w &lt; j (HF's sliding_window_causal mask); padding
     * queries see the row's keys. Shape [n, 1, 1, tokens, start + tokens].
     */
    private static NDArray prefillMask(NDManager step, int[] lengths, int tokens, int start, int window,
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

    static AttentionContext decode(NDManager step, BlockOptions block, KvCache cache, int n, DataType dtype) {
        long[] pos = new long[n];
        int maxPos = 0;
        int minPos = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            pos[i] = cache.length(i);
            maxPos = Math.max(maxPos, cache.length(i));
            minPos = Math.min(minPos, cache.length(i));
        }
        int keyLength = maxPos + 1;
        if (minPos == maxPos) {
            // Every row at one position (always so at batch 1): the cache takes this step's keys and values as
            // one strided copy per layer, with no index arrays, and a sliding window is a narrower slice of keys.
            AttentionContext ctx = new AttentionContext(step, block, cache, false, n, 1, keyLength, pos, null, null,
                    null, dtype);
            ctx.samePosition = maxPos;
            return ctx;
        }
        // Rows of different lengths: each sees only its own keys [0, pos_i] (and within its window).
        NDArray mask = decodeMask(step, pos, keyLength, 0, dtype);
        int kvHeads = cache.kvHeads();
        int hd = cache.headDim();
        long maxT = cache.capacity();
        long[] keyWrite = new long[n * kvHeads * hd];
        long[] valueWrite = new long[n * kvHeads];
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < kvHeads; h++) {
                long head = (long) i * kvHeads + h;
                for (int j = 0; j < hd; j++) {
                    keyWrite[(i * kvHeads + h) * hd + j] = (head * hd + j) * maxT + pos[i];
                }
                valueWrite[i * kvHeads + h] = head * maxT + pos[i];
            }
        }
        AttentionContext ctx = new AttentionContext(step, block, cache, false, n, 1, keyLength, pos, mask,
                step.create(keyWrite), step.create(valueWrite), dtype);
        for (int w : block.slidingWindows()) {
            if (w > 0 && w < keyLength && !ctx.windowMasks.containsKey(w)) {
                ctx.windowMasks.put(w, decodeMask(step, pos, keyLength, w, dtype));
            }
        }
        return ctx;
    }

    private static NDArray decodeMask(NDManager step, long[] pos, int keyLength, int window, DataType dtype) {
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

    /** The additive mask of {@code layer}: its sliding window's where it has one that matters this call. */
    private NDArray mask(int layer) {
        NDArray windowed = windowMasks.get(block.window(layer));
        return windowed != null ? windowed : mask;
    }

    public NDManager step() {
        return step;
    }

    /**
     * Views of {@code x}, one per part of a split op, each owned by that part's own sub-manager of the step: the
     * results of a part's ops attach to the manager of their first operand, and a DJL manager attaches arrays under
     * a lock, so parts that shared one would queue on it. Call from the thread that drives the step.
     */
    public NDArray[] share(NDArray x, int parts) {
        NDArray[] views = new NDArray[parts];
        for (int p = 0; p < parts; p++) {
            views[p] = Views.slice(partManager(p), x, 0, 0, Views.TO_END);
        }
        return views;
    }

    /** Creates the sub-managers of parts [0, parts) ahead of a split op (from the thread that drives the step). */
    public void preparePartManagers(int parts) {
        partManager(parts - 1);
    }

    /** The sub-manager of the step that part {@code p}'s arrays belong to (created on first use, by the driver). */
    NDManager partManager(int p) {
        while (partManagers.size() <= p) {
            partManagers.add(step.newSubManager());
        }
        return partManagers.get(p);
    }

    /** In a decode step whose rows are all at one position (always so at batch 1), that position; otherwise -1. */
    public int samePosition() {
        return samePosition;
    }

    /** Token positions [rows, tokens] (int64), created on first use (by the thread that drives the step). */
    public NDArray positions() {
        if (positions == null) {
            positions = step.create(positionValues, new Shape(rows, tokens));
        }
        return positions;
    }

    public int rows() {
        return rows;
    }

    public int tokens() {
        return tokens;
    }

    /**
     * Per-call values an architecture derives once and reuses in every layer (e.g. RoPE cos/sin). Call it from the
     * thread that drives the step, not from inside the parts of a split op.
     */
    public NDArray memo(String key, Supplier<NDArray> compute) {
        return memo.computeIfAbsent(key, k -> compute.get());
    }

    /**
     * {@link #attend(int, int, NDArray, NDArray, NDArray, double)} on raw handles inside a part's {@link NativeOps}
     * scope, with 1/sqrt(head_dim) already folded into q; returns [n, T, heads * head_dim]. A decode step runs
     * entirely on handles; a prefill hands q, k and v to the NDArray path (the part's manager then owns them).
     */
    public long attend(NativeOps op, int layer, int part, long q, long k, long v) {
        NDManager owner = partManager(part);
        if (prefill) {
            return NativeOps.handle(attend(layer, part, op.keep(q, owner), op.keep(k, owner), op.keep(v, owner),
                    1.0));
        }
        long headDim = cache.headDim();
        long kvHeads = cache.kvHeads();
        long group = cache.group();
        if (samePosition >= 0) {
            cache.writeAt(op, layer, part, rows, samePosition, op.reshape(k, rows, kvHeads, headDim, 1),
                    op.reshape(v, rows, kvHeads, 1, headDim));
        } else {
            cache.write(layer, part, keyWrite, op.keep(op.reshape(k, -1), owner), valueWrite,
                    op.keep(op.reshape(v, -1, headDim), owner));
        }
        // All rows at one position: a sliding window is the slice of the last `window` keys, no mask needed.
        int window = block.window(layer);
        int from = samePosition >= 0 && window > 0 ? Math.max(0, keyLength - window) : 0;
        long keys = cache.keys(op, layer, part, rows, from, keyLength);
        long values = cache.values(op, layer, part, rows, from, keyLength);
        long scores = op.matmul(op.reshape(q, rows, kvHeads, group, headDim), keys);
        if (cap != null) {
            // Gemma 2: cap * tanh(scores / cap), before the mask.
            op.muli(scores, NativeOps.handle(capInverse));
            scores = op.tanh(scores);
            op.muli(scores, NativeOps.handle(cap));
        }
        NDArray layerMask = mask(layer);
        if (layerMask != null) {
            op.addi(scores, NativeOps.handle(layerMask));
        }
        long out = op.matmul(op.softmax(scores, -1, dtype), values);
        return op.reshape(out, rows, 1, kvHeads * group * headDim);
    }

    /** Gemma 2's attention soft-capping, cap * tanh(scores / cap), or the scores unchanged. */
    private NDArray softcap(NDArray scores) {
        if (cap == null) {
            return scores;
        }
        return scores.mul(capInverse).tanh().mul(cap);
    }

    /**
     * Scaled dot-product attention with grouped-query heads, writing this call's keys and values into the cache.
     * With attention split into parts ({@link Architecture#attentionParts()}), each part calls this with its own
     * heads (its key/value heads and the query heads that read them); parts may run on different threads.
     *
     * @param part  which part of the heads these are (0 when attention is not split)
     * @param q     [n, T, heads, head_dim]
     * @param k     [n, T, kv_heads, head_dim]
     * @param v     [n, T, kv_heads, head_dim]
     * @param scale multiplies q (1 when the architecture folded 1/sqrt(head_dim) into its weights)
     * @return [n, T, heads * head_dim]
     */
    public NDArray attend(int layer, int part, NDArray q, NDArray k, NDArray v, double scale) {
        long headDim = cache.headDim();
        long kvHeads = cache.kvHeads();
        long group = cache.group();
        long heads = kvHeads * group;
        if (scale != 1.0) {
            q = q.mul(scale);
        }
        if (prefill) {
            // The scores and their softmax are rows x heads x T x keys floats per layer (about 60 MB for a 512-token
            // chunk over 2,048 keys with 14 heads): they die with this layer's scratch manager, not with the step,
            // or a long prompt would keep every layer's and every chunk's until the prefill ends.
            NDManager owner = q.getManager();
            try (NDManager scratch = owner.newSubManager()) {
                q.tempAttach(scratch);
                k.tempAttach(scratch);
                v.tempAttach(scratch);
                NDArray kt = k.transpose(0, 2, 3, 1);   // [n, kv_heads, hd, T]
                NDArray vt = v.transpose(0, 2, 1, 3);   // [n, kv_heads, T, hd]
                cache.write(layer, part, keyWrite, kt.reshape(-1), valueWrite, vt.reshape(-1, headDim));
                if (start > 0) {
                    // A later chunk: its queries read the row's earlier positions too, from the cache.
                    kt = cache.keysOf(scratch, layer, part, slots, keyLength);
                    vt = cache.valuesOf(scratch, layer, part, slots, keyLength);
                }
                // [n, heads, T, hd] grouped as [n, kv_heads, group*T, hd]: head h reads kv head h / group
                // (repeat_kv).
                NDArray qg = q.transpose(0, 2, 1, 3).reshape(rows, kvHeads, group * tokens, headDim);
                NDArray scores = softcap(qg.matMul(kt)).reshape(rows, kvHeads, group, tokens, keyLength)
                        .add(mask(layer)).softmax(-1).reshape(rows, kvHeads, group * tokens, keyLength);
                NDArray out = scores.matMul(vt).reshape(rows, heads, tokens, headDim).transpose(0, 2, 1, 3)
                        .reshape(rows, tokens, heads * headDim);
                out.attach(owner);
                return out;
            }
        }
        if (samePosition >= 0) {
            cache.writeAt(layer, part, rows, samePosition, k.reshape(rows, kvHeads, headDim, 1),
                    v.reshape(rows, kvHeads, 1, headDim));
        } else {
            cache.write(layer, part, keyWrite, k.reshape(-1), valueWrite, v.reshape(-1, headDim));
        }
        NDManager owner = part < partManagers.size() ? partManagers.get(part) : step;
        int window = block.window(layer);
        int from = samePosition >= 0 && window > 0 ? Math.max(0, keyLength - window) : 0;
        NDArray keys = cache.keys(owner, layer, part, rows, from, keyLength);
        NDArray values = cache.values(owner, layer, part, rows, from, keyLength);
        NDArray scores = softcap(q.reshape(rows, kvHeads, group, headDim).matMul(keys));
        NDArray layerMask = mask(layer);
        if (layerMask != null) {
            scores = scores.add(layerMask);
        }
        return scores.softmax(-1).matMul(values).reshape(rows, 1, heads * headDim);
    }
}

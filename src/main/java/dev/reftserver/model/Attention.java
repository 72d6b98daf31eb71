package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ops.Elementwise;
import dev.reftserver.model.ops.NativeOps;

/**
 * Scaled dot-product attention with grouped-query heads over the {@link KvCache}, for every architecture, prefill
 * and decode alike, on raw handles: writes the step's keys and values into the cache, then attends over the row's
 * cached positions. Per layer it applies the layer's sliding window ({@link BlockOptions#window}) and Gemma 2's
 * soft-capping of the scores ({@code cap * tanh(scores / cap)}, before the mask).
 *
 * <p>A bfloat16 cache ({@link KvCache#bfloat16()}, a model with bfloat16 weights) takes keys and values rounded to
 * bfloat16. A prefill attends in float32 as before (a later chunk widens the cached positions it reads); a decode
 * step rounds q too and runs the products in bfloat16 and the softmax in float32, as transformers computes a
 * bfloat16 model's attention. The result is float32 either way.
 *
 * <p>With attention split into parts by key/value heads ({@link Architecture#attentionParts()}), each part calls
 * {@link #attend} with its own heads (its key/value heads and the query heads that read them, repeat_kv), on its
 * own thread; the cache holds one array per part and layer.
 */
public final class Attention {

    private static final long[] ONES = {1, 1, 1, 1};
    /**
     * The most bytes of scores a prefill computes at once. glibc serves blocks up to 32 MB from memory it reuses
     * (its dynamic mmap threshold), while larger ones are mapped fresh and every page faulted in again: at 2,048
     * tokens a layer's whole scores are about 100 MB a part, and the faults cost more than the products. Measured on
     * the Qwen2.5-0.5B shape, a 2,048-token bfloat16 prefill in one call: 1-8 MB blocks 4.0-4.3 s, 16 MB 4.8 s,
     * 32 MB 4.9 s, the whole square 7.3 s. With each block's scores freed before the next (4,096 tokens,
     * {@code PrefillBenchmark}): 2 MB 11.3 s, 4 MB 10.6 s, 8 MB 10.7 s, 16 MB 11.1 s.
     */
    static final long SCORES_BYTES = 4L << 20;
    private static final int QUERY_BLOCK_MIN = 16;

    private final BlockOptions block;
    private final DataType dtype;
    private final long scoresBytes;
    private final long headDim;
    private final long kvHeads;
    private final long group;
    /** 0-dim float32 scalars (in-place ops keep the dtype of the array they update); null where unused. */
    private final NDArray scale;
    private final NDArray capInverse;
    private final NDArray cap;

    /**
     * @param parts      parts the heads are split into
     * @param queryScale multiplies q; 1 where the architecture folded it into its weights
     */
    public Attention(NDManager manager, ModelConfig config, int parts, double queryScale, DataType dtype) {
        this(manager, config, parts, queryScale, dtype, SCORES_BYTES);
    }

    /** As above, computing at most {@code scoresBytes} of a prefill's scores at once. */
    Attention(NDManager manager, ModelConfig config, int parts, double queryScale, DataType dtype,
            long scoresBytes) {
        this.scoresBytes = scoresBytes;
        this.block = config.block();
        this.dtype = dtype;
        this.headDim = config.headDim();
        this.kvHeads = config.numKvHeads() / parts;
        this.group = config.numHeads() / config.numKvHeads();
        this.scale = queryScale == 1.0 ? null : manager.create((float) queryScale);
        double softcap = block.attnSoftcap();
        this.capInverse = softcap > 0 ? manager.create((float) (1.0 / softcap)) : null;
        this.cap = softcap > 0 ? manager.create((float) softcap) : null;
    }

    /**
     * One part's attention over its heads, writing this step's keys and values into the cache.
     *
     * @param q [n, T, heads, head_dim]
     * @param k [n, T, kv_heads, head_dim]
     * @param v [n, T, kv_heads, head_dim]
     * @return [n, T, heads * head_dim], owned by {@code op}
     */
    public long attend(NativeOps op, StepBatch batch, KvCache cache, int layer, int part, long q, long k, long v) {
        if (batch.isMixed()) {
            return mixed(op, batch, cache, layer, part, q, k, v);
        }
        if (scale != null) {
            q = op.mul(q, NativeOps.handle(scale));
        }
        if (batch.isPrefill()) {
            // The scores and their softmax are rows x heads x T x keys floats per layer (about 60 MB for a 512-token
            // chunk over 2,048 keys with 14 heads): they die with this scope, not with the step, or a long prompt
            // would keep every layer's and every chunk's until the prefill ends.
            try (NativeOps scratch = new NativeOps()) {
                long out = prefill(scratch, batch, cache, layer, part, q, k, v);
                op.adopt(scratch.release(out));
                return out;
            }
        }
        return decode(op, batch, cache, layer, part, q, k, v);
    }

    /**
     * A mixed step ({@link StepBatch#mixed}): its prefill's tokens and its decode rows' tokens attended each as their
     * own step would be, the results in the step's token order.
     */
    private long mixed(NativeOps op, StepBatch batch, KvCache cache, int layer, int part, long q, long k, long v) {
        StepBatch prefill = batch.prefillPart();
        StepBatch decode = batch.decodePart();
        long n = prefill.rows();
        long t = prefill.tokens();
        long all = batch.tokens();
        long heads = kvHeads * group;
        long[] outs = new long[2];
        outs[0] = attend(op, prefill, cache, layer, part, tokens(op, q, 0, n * t, n, t, heads),
                tokens(op, k, 0, n * t, n, t, kvHeads), tokens(op, v, 0, n * t, n, t, kvHeads));
        long d = decode.rows();
        outs[1] = attend(op, decode, cache, layer, part, tokens(op, q, n * t, all, d, 1, heads),
                tokens(op, k, n * t, all, d, 1, kvHeads), tokens(op, v, n * t, all, d, 1, kvHeads));
        outs[0] = op.reshape(outs[0], 1, n * t, heads * headDim);
        outs[1] = op.reshape(outs[1], 1, d, heads * headDim);
        return op.cat(outs, 1);
    }

    /** Tokens [from, to) of a [1, tokens, heads, head_dim] array as [rows, perRow, heads, head_dim]. */
    private long tokens(NativeOps op, long a, long from, long to, long rows, long perRow, long heads) {
        return op.reshape(op.slice(a, 1, from, to), rows, perRow, heads, headDim);
    }

    /**
     * As {@link #attend}, in float32 (or the activations' dtype) whatever the cache's: a bfloat16 cache takes the
     * keys and values rounded, and a later chunk reads the earlier positions back widened.
     */
    private long prefill(NativeOps op, StepBatch batch, KvCache cache, int layer, int part, long q, long k,
            long v) {
        long n = batch.rows();
        long t = batch.tokens();
        int keyLength = batch.keyLength();
        boolean bf16 = cache.bfloat16();
        long kt = op.permute(k, 0, 2, 3, 1);   // [n, kv_heads, hd, T]
        long vt = op.permute(v, 0, 2, 1, 3);   // [n, kv_heads, T, hd]
        long kFlat = op.reshape(kt, -1);
        long vFlat = op.reshape(vt, -1, headDim);
        op.set(cache.flatKeys(layer, part), batch.keyWrite(), bf16 ? op.bfloat16(kFlat) : kFlat);
        op.set(cache.flatValues(layer, part), batch.valueWrite(), bf16 ? op.bfloat16(vFlat) : vFlat);
        if (batch.start() > 0) {
            // A later chunk: its queries read the row's earlier positions too, from the cache.
            kt = rowsOf(op, cache.keys(layer, part), batch.slots(), 3, keyLength);
            vt = rowsOf(op, cache.values(layer, part), batch.slots(), 2, keyLength);
            if (bf16) {
                kt = op.float32(kt);
                vt = op.float32(vt);
            }
        }
        // [n, heads, T, hd] as [n, kv_heads, group, T, hd]: head h reads kv head h / group (repeat_kv).
        long q5 = op.reshape(op.permute(q, 0, 2, 1, 3), n, kvHeads, group, t, headDim);
        long mask = batch.mask(layer);
        int block = queryBlock(n, t, keyLength);
        if (block >= t) {
            return attendBlock(op, q5, kt, vt, mask, n, t, keyLength);
        }
        // Blocks of queries: query t sees no key past start + t, so block [t0, t1) reads keys [0, start + t1) only
        // (about half the products of the whole square for a long prompt). Each block's scores and probabilities
        // are freed before the next block, so the allocator hands the next one the same memory instead of fresh
        // pages to fault in (kept to the layer's end, they cost more than the products).
        long[] outs = new long[(int) ((t + block - 1) / block)];
        for (int b = 0; b < outs.length; b++) {
            long t0 = (long) b * block;
            long t1 = Math.min(t, t0 + block);
            long keys = batch.start() + t1;
            try (NativeOps scratch = new NativeOps()) {
                long out = attendBlock(scratch, scratch.slice(q5, 3, t0, t1), scratch.slice(kt, 3, 0, keys),
                        scratch.slice(vt, 2, 0, keys), scratch.slice(scratch.slice(mask, 3, t0, t1), 4, 0, keys), n,
                        t1 - t0, keys);
                op.adopt(scratch.release(out));
                outs[b] = out;
            }
        }
        return op.cat(outs, 1);
    }

    /** Queries per block of a prefill: the scores of one block ({@code n x heads x block x keys} floats) stay
     * within the budget ({@link #SCORES_BYTES} by default). */
    private int queryBlock(long n, long t, long keys) {
        long perQuery = n * kvHeads * group * keys * Float.BYTES;
        return (int) Math.min(t, Math.max(QUERY_BLOCK_MIN, scoresBytes / Math.max(1, perQuery)));
    }

    /**
     * Queries q5 [n, kv_heads, group, T, hd] over keys kt [n, kv_heads, hd, K] and values vt [n, kv_heads, K, hd]
     * with the additive mask [n, 1, 1, T, K]: [n, T, heads * hd].
     */
    private long attendBlock(NativeOps op, long q5, long kt, long vt, long mask, long n, long t, long keys) {
        long qg = op.reshape(q5, n, kvHeads, group * t, headDim);
        long scores = softcap(op, op.matmul(qg, kt));
        long grouped = op.reshape(scores, n, kvHeads, group, t, keys);
        op.addi(grouped, mask);
        long probs = op.reshape(op.softmax(grouped, -1, dtype), n, kvHeads, group * t, keys);
        long out = op.reshape(op.matmul(probs, vt), n, kvHeads * group, t, headDim);
        return op.reshape(op.permute(out, 0, 2, 1, 3), n, t, kvHeads * group * headDim);
    }

    /**
     * As {@link #attend}, for one decode step. Over a bfloat16 cache the keys and values are written and attended
     * in one call into the bfloat16 module: the step reads keys [0, keyLength) with keyLength rounded up
     * ({@link StepBatch#decode}) and masked, since oneDNN builds a bfloat16 product's kernel for each new shape
     * (about 0.6 ms), which a key length growing by one every step would pay at every step. One call instead of
     * the eight of rounding, writing, slicing and attending: at 16 rows the writes alone had taken about 65
     * microseconds a layer and part (Qwen2.5-0.5B shape).
     */
    private long decode(NativeOps op, StepBatch batch, KvCache cache, int layer, int part, long q, long k,
            long v) {
        long n = batch.rows();
        long q4 = op.reshape(q, n, kvHeads, group, headDim);
        long mask = batch.mask(layer);
        long out;
        if (cache.bfloat16()) {
            out = op.writeAndAttendBfloat16(q4, k, v, cache.keys(layer, part), cache.values(layer, part),
                    batch.writeSlots(), batch.writePositions(), mask,
                    cap == null ? 0 : NativeOps.handle(capInverse), cap == null ? 0 : NativeOps.handle(cap));
            return op.reshape(out, n, 1, kvHeads * group * headDim);
        }
        int keyLength = batch.keyLength();
        int same = batch.samePosition();
        if (same >= 0) {
            // Every row at one position: one strided copy per array, no index arrays.
            op.put(cache.keys(layer, part), op.reshape(k, n, kvHeads, headDim, 1), new long[] {0, 0, 0, same},
                    new long[] {n, kvHeads, headDim, same + 1L}, ONES);
            op.put(cache.values(layer, part), op.reshape(v, n, kvHeads, 1, headDim), new long[] {0, 0, same, 0},
                    new long[] {n, kvHeads, same + 1L, headDim}, ONES);
        } else {
            op.set(cache.flatKeys(layer, part), batch.keyWrite(), op.reshape(k, -1));
            op.set(cache.flatValues(layer, part), batch.valueWrite(), op.reshape(v, -1, headDim));
        }
        // All rows at one position and no mask: a sliding window is the slice of the last `window` keys.
        int window = block.window(layer);
        int from = mask == 0 && same >= 0 && window > 0 ? Math.max(0, keyLength - window) : 0;
        long keys = op.slice(firstRows(op, cache.keys(layer, part), cache, n), 3, from, keyLength);
        long values = op.slice(firstRows(op, cache.values(layer, part), cache, n), 2, from, keyLength);
        long scores = softcap(op, op.matmul(q4, keys));
        if (mask != 0) {
            op.addi(scores, mask);
        }
        out = op.matmul(op.softmax(scores, -1, dtype), values);
        return op.reshape(out, n, 1, kvHeads * group * headDim);
    }

    /** Gemma 2's cap * tanh(scores / cap), in place where it can be; or the scores unchanged. */
    private long softcap(NativeOps op, long scores) {
        if (cap == null) {
            return scores;
        }
        return Elementwise.softcap(op, scores, capInverse, cap);
    }

    /** Slots [0, n) of a cache array (all of it when the cache holds n rows). */
    private static long firstRows(NativeOps op, long all, KvCache cache, long n) {
        return n == cache.rows() ? all : op.slice(all, 0, 0, n);
    }

    /**
     * The given slots' positions [0, len) along {@code dim} of a cache array: a view when the slots are consecutive,
     * otherwise a copy.
     */
    private static long rowsOf(NativeOps op, long all, int[] slots, int dim, int len) {
        boolean consecutive = true;
        for (int i = 1; i < slots.length; i++) {
            consecutive &= slots[i] == slots[0] + i;
        }
        if (consecutive) {
            return op.slice(op.slice(all, 0, slots[0], slots[0] + slots.length), dim, 0, len);
        }
        long[] each = new long[slots.length];
        for (int i = 0; i < slots.length; i++) {
            each[i] = op.slice(op.slice(all, 0, slots[i], slots[i] + 1L), dim, 0, len);
        }
        return op.cat(each, 0);
    }
}

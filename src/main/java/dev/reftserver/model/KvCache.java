package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ops.NativeOps;
import java.util.Arrays;

/**
 * Key/value cache written in place: per layer K as [rows, kv_heads, head_dim, capacity] (already transposed for
 * q K^T) and V as [rows, kv_heads, capacity, head_dim]. A row ("slot") holds one sequence; {@link #length(int)} says
 * how many of its positions are filled. A slice of rows and positions of either is a strided view that attention
 * multiplies without copying.
 *
 * <p>The arrays start small and grow on demand ({@link #ensure}, sized by {@link CacheGrowth}): rows and positions at
 * least double, bounded by {@link #maxRows()}, {@link #maxTokens()} (a row's context) and the token budget, and the
 * filled part is copied across. So memory follows the rows actually running (padded to the longest) rather than max rows x max context,
 * while decode keeps reading one contiguous view; doubling keeps the copies to an amortised constant per token.
 *
 * <p>The cache holds storage and its growth only; {@link Attention} writes and reads it. Its dtype is the
 * activations', or bfloat16 for a model with bfloat16 weights ({@link CacheDtype}), made and copied through raw
 * handles, since DJL cannot describe bfloat16 arrays.
 *
 * <p>When an architecture splits attention into parts by key/value heads ({@link Architecture#attentionParts()}),
 * each layer holds one K and one V per part, of {@code kv_heads / parts} heads each, so the parts write and read
 * separate arrays with the same (part-relative) indices.
 */
public final class KvCache implements AutoCloseable {

    /** Positions a fresh cache holds before it first grows. */
    static final int INITIAL_TOKENS = CacheGrowth.INITIAL_TOKENS;
    private static final long[] ONES = {1, 1, 1, 1};

    private final NDManager manager;
    private final DataType dtype;
    private final CacheGrowth growth;
    private final int parts;
    private final int kvHeads;
    private final int group;
    private final int headDim;
    private final NDArray[] k;
    private final NDArray[] v;
    private final NDArray[] kFlat;
    private final NDArray[] vFlat;
    private final int[] lengths;
    private NDManager arrays;
    private int rows;
    private int capacity;

    /**
     * @param maxRows      rows the cache may hold
     * @param maxTokens    positions one row may hold
     * @param budgetTokens rows x positions the cache grows to at most, unless one request needs more
     */
    KvCache(NDManager parent, ModelConfig config, int parts, int maxRows, int maxTokens, long budgetTokens,
            DataType dtype) {
        if (parts < 1 || config.numKvHeads() % parts != 0) {
            throw new IllegalArgumentException(config.numKvHeads() + " key/value heads do not split into " + parts);
        }
        this.growth = new CacheGrowth(maxRows, maxTokens, budgetTokens);
        this.manager = parent.newSubManager();
        this.dtype = dtype;
        this.parts = parts;
        this.kvHeads = config.numKvHeads() / parts;
        this.group = config.numHeads() / config.numKvHeads();
        this.headDim = config.headDim();
        int n = config.numLayers() * parts;
        this.k = new NDArray[n];
        this.v = new NDArray[n];
        this.kFlat = new NDArray[n];
        this.vFlat = new NDArray[n];
        this.lengths = new int[maxRows];
        allocate(growth.initial());
    }

    /** (Re)allocates every layer at {@code size}, copying the filled positions of the rows kept. */
    private void allocate(CacheGrowth.Size size) {
        int newRows = size.rows();
        int newCapacity = size.capacity();
        NDManager next = manager.newSubManager();
        int keepRows = Math.min(rows, newRows);
        int filled = 0;
        for (int s = 0; s < keepRows; s++) {
            filled = Math.max(filled, lengths[s]);
        }
        try (NativeOps op = new NativeOps()) {
            for (int l = 0; l < k.length; l++) {
                NDArray nkArray = zeros(op, next, newRows, kvHeads, headDim, newCapacity);
                NDArray nvArray = zeros(op, next, newRows, kvHeads, newCapacity, headDim);
                long nk = NativeOps.handle(nkArray);
                long nv = NativeOps.handle(nvArray);
                if (filled > 0) {
                    op.put(nk, op.slice(op.slice(NativeOps.handle(k[l]), 0, 0, keepRows), 3, 0, filled),
                            new long[] {0, 0, 0, 0}, new long[] {keepRows, kvHeads, headDim, filled}, ONES);
                    op.put(nv, op.slice(op.slice(NativeOps.handle(v[l]), 0, 0, keepRows), 2, 0, filled),
                            new long[] {0, 0, 0, 0}, new long[] {keepRows, kvHeads, filled, headDim}, ONES);
                }
                k[l] = nkArray;
                v[l] = nvArray;
                // Views sharing storage: index_put_ on them writes the cache in place.
                kFlat[l] = op.keep(op.reshape(nk, -1), next);
                vFlat[l] = op.keep(op.reshape(nv, (long) newRows * kvHeads * newCapacity, headDim), next);
            }
        }
        if (arrays != null) {
            arrays.close();
        }
        arrays = next;
        rows = newRows;
        capacity = newCapacity;
    }

    /**
     * A zero-filled cache array of {@code shape} on the cache's device, owned by {@code owner}. A bfloat16 one is made
     * as float32 and converted (DJL cannot make bfloat16 arrays), one layer's array at a time. Zeros, not
     * uninitialised memory: attention reads positions past a row's length before it masks them, and a stale NaN
     * there would survive the mask.
     */
    private NDArray zeros(NativeOps op, NDManager owner, long... shape) {
        if (!bfloat16()) {
            return owner.zeros(new Shape(shape), dtype);
        }
        try (NDManager tmp = owner.newSubManager()) {
            return op.keep(op.bfloat16(NativeOps.handle(tmp.zeros(new Shape(shape), DataType.FLOAT32))), owner);
        }
    }

    /** Keys and values are kept in bfloat16 (a model with bfloat16 weights): half the bytes of float32. */
    public boolean bfloat16() {
        return dtype == DataType.BFLOAT16;
    }

    /**
     * Makes room for slots [0, rowsNeeded) of up to {@code tokensNeeded} positions each ({@link CacheGrowth#next}).
     * Call before building a step's {@link StepBatch}: the flat write indices depend on the capacity.
     *
     * @throws IllegalArgumentException past {@link #maxRows()} or {@link #maxTokens()}
     */
    public void ensure(int rowsNeeded, int tokensNeeded) {
        CacheGrowth.Size now = new CacheGrowth.Size(rows, capacity);
        CacheGrowth.Size next = growth.next(now, lengths, rowsNeeded, tokensNeeded);
        if (!next.equals(now)) {
            allocate(next);
        }
    }

    /** Shrinks back to the initial size when no slot holds anything (after a burst of long rows has left). */
    public void shrinkIfEmpty() {
        for (int len : lengths) {
            if (len > 0) {
                return;
            }
        }
        CacheGrowth.Size initial = growth.initial();
        if (!initial.equals(new CacheGrowth.Size(rows, capacity))) {
            allocate(initial);
        }
    }

    /** Rows allocated now. */
    public int rows() {
        return rows;
    }

    /** Rows the cache may grow to. */
    public int maxRows() {
        return growth.maxRows();
    }

    /** Positions one row may hold: the context a row is limited to. */
    public int maxTokens() {
        return growth.maxTokens();
    }

    /** Positions allocated per row now. */
    public int capacity() {
        return capacity;
    }

    public int length(int slot) {
        return lengths[slot];
    }

    void setLength(int slot, int length) {
        lengths[slot] = length;
    }

    /** Frees a slot for reuse. The stale entries are never read: attention masks by length. */
    public void clear(int slot) {
        lengths[slot] = 0;
    }

    /**
     * Takes a slot back to its first {@code length} positions (after a failed step: the positions it wrote past those
     * are never read, and the next step writes them again).
     */
    public void truncate(int slot, int length) {
        if (length < 0 || length > lengths[slot]) {
            throw new IllegalArgumentException("slot " + slot + " holds " + lengths[slot] + " positions, not "
                    + length);
        }
        lengths[slot] = length;
    }

    /** Bytes held by the cache on its device. */
    public long bytes() {
        return 2L * k.length * rows * kvHeads * capacity * headDim * dtype.getNumOfBytes();
    }

    /** Moves slot {@code from} into slot {@code to} (keeps running rows contiguous so decode needs no gather). */
    public void move(int from, int to) {
        if (from == to) {
            return;
        }
        copy(from, to);
        lengths[from] = 0;
    }

    /** Copies slot {@code from} into slot {@code to} (rows that share a prompt's prefill), leaving {@code from}. */
    public void copy(int from, int to) {
        if (from == to) {
            return;
        }
        int len = lengths[from];
        if (len > 0) {
            try (NativeOps op = new NativeOps()) {
                for (int l = 0; l < k.length; l++) {
                    long kl = NativeOps.handle(k[l]);
                    long vl = NativeOps.handle(v[l]);
                    op.put(kl, op.slice(op.slice(kl, 0, from, from + 1L), 3, 0, len), new long[] {to, 0, 0, 0},
                            new long[] {to + 1L, kvHeads, headDim, len}, ONES);
                    op.put(vl, op.slice(op.slice(vl, 0, from, from + 1L), 2, 0, len), new long[] {to, 0, 0, 0},
                            new long[] {to + 1L, kvHeads, len, headDim}, ONES);
                }
            }
        }
        lengths[to] = len;
    }

    /** One part's keys of {@code layer}: a handle to [rows, kv_heads, head_dim, capacity], owned by the cache. */
    long keys(int layer, int part) {
        return NativeOps.handle(k[layer * parts + part]);
    }

    /** One part's values of {@code layer}: a handle to [rows, kv_heads, capacity, head_dim], owned by the cache. */
    long values(int layer, int part) {
        return NativeOps.handle(v[layer * parts + part]);
    }

    /** {@link #keys} as one vector sharing its storage (for writes at flat indices). */
    long flatKeys(int layer, int part) {
        return NativeOps.handle(kFlat[layer * parts + part]);
    }

    /** {@link #values} as [rows * kv_heads * capacity, head_dim] sharing its storage. */
    long flatValues(int layer, int part) {
        return NativeOps.handle(vFlat[layer * parts + part]);
    }

    int headDim() {
        return headDim;
    }

    /** Key/value heads per part. */
    int kvHeads() {
        return kvHeads;
    }

    /** Query heads per key/value head. */
    int group() {
        return group;
    }

    int parts() {
        return parts;
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "KvCache[rows=" + rows + ", capacity=" + capacity + ", maxTokens=" + maxTokens() + ", lengths="
                + Arrays.toString(lengths) + "]";
    }
}

package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * Preallocated key/value cache, allocated once and written in place: per layer K as [rows, kv_heads, head_dim,
 * maxTokens] (already transposed for q K^T) and V as [rows, kv_heads, maxTokens, head_dim]. A row ("slot") holds
 * one sequence; {@link #length(int)} says how many of its positions are filled. A slice of rows and positions of
 * either is a strided view that attention multiplies without copying.
 *
 * <p>When an architecture splits attention into parts by key/value heads ({@link Architecture#attentionParts()}),
 * each layer holds one K and one V per part, of {@code kv_heads / parts} heads each, so the parts write and read
 * separate arrays with the same (part-relative) indices.
 */
public final class KvCache implements AutoCloseable {

    private static final long[] ONES = {1, 1, 1, 1};

    private final NDManager manager;
    private final int rows;
    private final int maxTokens;
    private final int parts;
    private final int kvHeads;
    private final int group;
    private final int headDim;
    private final NDArray[] k;
    private final NDArray[] v;
    private final NDArray[] kFlat;
    private final NDArray[] vFlat;
    private final int[] lengths;

    KvCache(NDManager parent, ModelConfig config, int parts, int rows, int maxTokens, DataType dtype) {
        if (parts < 1 || config.numKvHeads() % parts != 0) {
            throw new IllegalArgumentException(config.numKvHeads() + " key/value heads do not split into " + parts);
        }
        this.manager = parent.newSubManager();
        this.rows = rows;
        this.maxTokens = maxTokens;
        this.parts = parts;
        this.kvHeads = config.numKvHeads() / parts;
        this.group = config.numHeads() / config.numKvHeads();
        this.headDim = config.headDim();
        int arrays = config.numLayers() * parts;
        this.k = new NDArray[arrays];
        this.v = new NDArray[arrays];
        this.kFlat = new NDArray[arrays];
        this.vFlat = new NDArray[arrays];
        for (int l = 0; l < arrays; l++) {
            k[l] = manager.zeros(new Shape(rows, kvHeads, headDim, maxTokens), dtype);
            v[l] = manager.zeros(new Shape(rows, kvHeads, maxTokens, headDim), dtype);
            // Views sharing storage: index_put_ on them writes the cache in place.
            kFlat[l] = k[l].reshape(-1);
            vFlat[l] = v[l].reshape((long) rows * kvHeads * maxTokens, headDim);
        }
        this.lengths = new int[rows];
    }

    public int rows() {
        return rows;
    }

    public int maxTokens() {
        return maxTokens;
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

    /** Bytes held by the cache on its device. */
    public long bytes() {
        return 2L * k.length * rows * kvHeads * maxTokens * headDim * k[0].getDataType().getNumOfBytes();
    }

    /** Moves slot {@code from} into slot {@code to} (keeps running rows contiguous so decode needs no gather). */
    public void move(int from, int to) {
        if (from == to) {
            return;
        }
        int len = lengths[from];
        if (len > 0) {
            try (NDManager tmp = manager.newSubManager()) {
                NDIndex kSrc = new NDIndex("{}, :, :, :{}", from, len);
                NDIndex kDst = new NDIndex("{}, :, :, :{}", to, len);
                NDIndex vSrc = new NDIndex("{}, :, :{}", from, len);
                NDIndex vDst = new NDIndex("{}, :, :{}", to, len);
                for (int l = 0; l < k.length; l++) {
                    k[l].set(kDst, k[l].get(tmp, kSrc));
                    v[l].set(vDst, v[l].get(tmp, vSrc));
                }
            }
        }
        lengths[to] = len;
        lengths[from] = 0;
    }

    /**
     * Writes one part's keys (scalars at flat indices ((slot*kvHeads + head)*headDim + j)*maxTokens + pos, heads
     * counted within the part) and values (rows of head_dim at (slot*kvHeads + head)*maxTokens + pos).
     */
    void write(int layer, int part, NDIndex keyIndex, NDArray keys, NDIndex valueIndex, NDArray values) {
        kFlat[layer * parts + part].set(keyIndex, keys);
        vFlat[layer * parts + part].set(valueIndex, values);
    }

    /**
     * Writes one part's keys [n, kv_heads, head_dim, 1] and values [n, kv_heads, 1, head_dim] of slots [0, n), all at
     * position {@code pos}: a strided copy in one native call, for decode steps whose rows are all at one position.
     */
    void writeAt(int layer, int part, int n, int pos, NDArray keys, NDArray values) {
        try (NativeOps op = new NativeOps()) {
            writeAt(op, layer, part, n, pos, NativeOps.handle(keys), NativeOps.handle(values));
        }
    }

    /** {@link #writeAt(int, int, int, int, NDArray, NDArray)} on raw handles. */
    void writeAt(NativeOps op, int layer, int part, int n, int pos, long keys, long values) {
        int i = layer * parts + part;
        op.put(NativeOps.handle(k[i]), keys, new long[] {0, 0, 0, pos}, new long[] {n, kvHeads, headDim, pos + 1L},
                ONES);
        op.put(NativeOps.handle(v[i]), values, new long[] {0, 0, pos, 0}, new long[] {n, kvHeads, pos + 1L, headDim},
                ONES);
    }

    /** {@link #keys(NDManager, int, int, int, int, int)} as a handle owned by {@code op}. */
    long keys(NativeOps op, int layer, int part, int n, int from, int len) {
        long all = NativeOps.handle(k[layer * parts + part]);
        return op.slice(n == rows ? all : op.slice(all, 0, 0, n), 3, from, len);
    }

    /** {@link #values(NDManager, int, int, int, int, int)} as a handle owned by {@code op}. */
    long values(NativeOps op, int layer, int part, int n, int from, int len) {
        long all = NativeOps.handle(v[layer * parts + part]);
        return op.slice(n == rows ? all : op.slice(all, 0, 0, n), 2, from, len);
    }

    /** One part's transposed keys of slots [0, n), positions [from, len): a view [n, kv_heads, head_dim, len-from]. */
    NDArray keys(NDManager owner, int layer, int part, int n, int from, int len) {
        try (NativeOps op = new NativeOps()) {
            return op.keep(keys(op, layer, part, n, from, len), owner);
        }
    }

    /** One part's values of slots [0, n), positions [from, len): a view [n, kv_heads, len - from, head_dim]. */
    NDArray values(NDManager owner, int layer, int part, int n, int from, int len) {
        try (NativeOps op = new NativeOps()) {
            return op.keep(values(op, layer, part, n, from, len), owner);
        }
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
        return "KvCache[rows=" + rows + ", maxTokens=" + maxTokens + ", lengths=" + Arrays.toString(lengths) + "]";
    }
}

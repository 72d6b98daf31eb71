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
 */
public final class KvCache implements AutoCloseable {

    private final NDManager manager;
    private final int rows;
    private final int maxTokens;
    private final int kvHeads;
    private final int headDim;
    private final NDArray[] k;
    private final NDArray[] v;
    private final NDArray[] kFlat;
    private final NDArray[] vFlat;
    private final int[] lengths;

    KvCache(NDManager parent, ModelConfig config, int rows, int maxTokens, DataType dtype) {
        this.manager = parent.newSubManager();
        this.rows = rows;
        this.maxTokens = maxTokens;
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        int layers = config.numLayers();
        this.k = new NDArray[layers];
        this.v = new NDArray[layers];
        this.kFlat = new NDArray[layers];
        this.vFlat = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
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
     * Writes keys (scalars at flat indices ((slot*kvHeads + head)*headDim + j)*maxTokens + pos) and values (rows of
     * head_dim at (slot*kvHeads + head)*maxTokens + pos).
     */
    void write(int layer, NDIndex keyIndex, NDArray keys, NDIndex valueIndex, NDArray values) {
        kFlat[layer].set(keyIndex, keys);
        vFlat[layer].set(valueIndex, values);
    }

    /** Transposed keys of slots [0, n), positions [0, len): a step-scoped view [n, kv_heads, head_dim, len]. */
    NDArray keys(NDManager step, int layer, int n, int len) {
        return Views.slice(step, Views.slice(step, k[layer], 0, 0, n), 3, 0, len);
    }

    /** Values of slots [0, n), positions [0, len): a step-scoped view [n, kv_heads, len, head_dim]. */
    NDArray values(NDManager step, int layer, int n, int len) {
        return Views.slice(step, Views.slice(step, v[layer], 0, 0, n), 2, 0, len);
    }

    int headDim() {
        return headDim;
    }

    int kvHeads() {
        return kvHeads;
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

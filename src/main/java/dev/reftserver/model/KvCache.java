package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * Preallocated key/value cache: per layer one K and one V array of shape [rows, kv_heads, maxTokens, head_dim],
 * allocated once and written in place. A row ("slot") holds one sequence; {@link #length(int)} says how many of
 * its positions are filled. The layout keeps a slice of rows and positions a strided view that attention can
 * multiply without copying.
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
        Shape shape = new Shape(rows, kvHeads, maxTokens, headDim);
        for (int l = 0; l < layers; l++) {
            k[l] = manager.zeros(shape, dtype);
            v[l] = manager.zeros(shape, dtype);
            // Views sharing storage: index_put_ on them writes the cache in place.
            kFlat[l] = k[l].reshape((long) rows * kvHeads * maxTokens, headDim);
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
                NDIndex src = new NDIndex("{}, :, :{}", from, len);
                NDIndex dst = new NDIndex("{}, :, :{}", to, len);
                for (int l = 0; l < k.length; l++) {
                    k[l].set(dst, k[l].get(tmp, src));
                    v[l].set(dst, v[l].get(tmp, src));
                }
            }
        }
        lengths[to] = len;
        lengths[from] = 0;
    }

    /** Writes rows of keys and values ([m, head_dim] each) at flat indices (slot*kvHeads + head)*maxTokens + pos. */
    void write(int layer, NDArray flatIndex, NDArray keys, NDArray values) {
        NDIndex at = new NDIndex("{}", flatIndex);
        kFlat[layer].set(at, keys);
        vFlat[layer].set(at, values);
    }

    /** Keys of slots [0, n), positions [0, len), as a step-scoped view [n, kv_heads, len, head_dim]. */
    NDArray keys(NDManager step, int layer, int n, int len) {
        return k[layer].get(step, new NDIndex(":{}, :, :{}", n, len));
    }

    NDArray values(NDManager step, int layer, int n, int len) {
        return v[layer].get(step, new NDIndex(":{}, :, :{}", n, len));
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

package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A checkpoint tensor known by name and shape, whose values are read only when asked for: a loader reads one
 * tensor at a time and drops it, so a checkpoint is never held on the heap whole. It reads either as a Java array
 * ({@link #read}) or natively ({@link #readNative}, {@link #readStored}); a tensor made from Java values only
 * ({@link #LazyTensor(String, long[], Supplier)}) reads natively by copying those values. A matrix can also be
 * read row by row as stored ({@link #openRows}), by a loader that rearranges it while copying.
 */
public record LazyTensor(String name, long[] shape, Supplier<float[]> values,
        Function<NDManager, StoredTensor> stored, Supplier<StoredRows> rows, Supplier<ByteBuffer> mapped) {

    public LazyTensor(String name, long[] shape, Supplier<float[]> values) {
        this(name, shape, values, null, null, null);
    }

    public static LazyTensor of(TensorData t) {
        return new LazyTensor(t.name(), t.shape(), t::data);
    }

    /** The same tensor under another name (a checkpoint whose names differ from the loader's). */
    public LazyTensor named(String newName) {
        return new LazyTensor(newName, shape, values, stored, rows, mapped);
    }

    public TensorData read() {
        return new TensorData(name, shape.clone(), values.get());
    }

    /** The values as a new float32 array of {@code manager} (a CPU manager), which owns its memory. */
    public NDArray readNative(NDManager manager) {
        return readStored(manager).toFloat32();
    }

    /** A matrix's rows as stored (see {@link StoredRows}); the caller closes them. */
    public StoredRows openRows() {
        if (shape.length != 2) {
            throw new CheckpointException("tensor '" + name + "' is not a matrix");
        }
        return rows != null ? rows.get() : StoredRows.of(values.get(), shape[0], shape[1]);
    }

    /**
     * The bytes of a BF16 tensor stored in a file, as a read-only map of that file (see
     * {@link Safetensors#mappedBfloat16}), or null where there is no such map.
     */
    public ByteBuffer mappedBfloat16() {
        return mapped == null ? null : mapped.get();
    }

    /** The values in native memory of {@code manager} (a CPU manager) in their stored dtype. */
    public StoredTensor readStored(NDManager manager) {
        if (stored != null) {
            return stored.apply(manager);
        }
        // An array DJL makes from Java values uses a buffer DJL frees with that array; a copy is libtorch's own,
        // which a result that shares it (a same-dtype conversion) may keep.
        try (NDManager java = manager.newSubManager()) {
            NDArray f = java.create(values.get(), new Shape(shape)).duplicate();
            f.attach(manager);
            return new StoredTensor(f, "F32", f);
        }
    }
}

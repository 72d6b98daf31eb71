package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ModelConfig;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** A model's configuration plus its weights under Hugging Face tensor names, each read as fp32 when required. */
public record Checkpoint(ModelConfig config, Map<String, LazyTensor> tensors, String source) {

    /** A checkpoint whose tensors are already in memory (llama2.c files, tests). */
    public static Checkpoint inMemory(ModelConfig config, Map<String, TensorData> tensors, String source) {
        Map<String, LazyTensor> lazy = new LinkedHashMap<>();
        tensors.forEach((name, t) -> lazy.put(name, LazyTensor.of(t)));
        return new Checkpoint(config, lazy, source);
    }

    /** The tensor {@code name}, checked against the expected shape, then read; a clear error if missing or wrong. */
    public TensorData require(String name, long... shape) {
        return checked(name, shape).read();
    }

    /**
     * As {@link #require}, read as a new float32 array of {@code manager} (a CPU manager) without a copy on the Java
     * heap where the checkpoint's bytes allow it (safetensors files).
     */
    public NDArray requireNative(NDManager manager, String name, long... shape) {
        return checked(name, shape).readNative(manager);
    }

    /** As {@link #requireNative}, in the dtype the checkpoint stores it in (see {@link StoredTensor}). */
    public StoredTensor requireStored(NDManager manager, String name, long... shape) {
        return checked(name, shape).readStored(manager);
    }

    /** The matrix {@code name} [rows, cols], checked as {@link #require} checks it, row by row as stored. */
    public StoredRows requireRows(String name, long rows, long cols) {
        return checked(name, rows, cols).openRows();
    }

    private LazyTensor checked(String name, long... shape) {
        LazyTensor t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(source + ": tensor '" + name + "' is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(source + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return t;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }
}

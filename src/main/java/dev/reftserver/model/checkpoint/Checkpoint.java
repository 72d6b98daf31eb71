package dev.reftserver.model.checkpoint;

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
        LazyTensor t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(source + ": tensor '" + name + "' is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(source + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return t.read();
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }
}

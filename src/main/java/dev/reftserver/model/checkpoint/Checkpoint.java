package dev.reftserver.model.checkpoint;

import dev.reftserver.model.ModelConfig;
import java.util.Arrays;
import java.util.Map;

/** A model's configuration plus its weights under Hugging Face tensor names, all fp32. */
public record Checkpoint(ModelConfig config, Map<String, TensorData> tensors, String source) {

    /** The tensor {@code name}, checked against the expected shape; a clear error if missing or misshapen. */
    public TensorData require(String name, long... shape) {
        TensorData t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(source + ": tensor '" + name + "' is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(source + ": tensor '" + name + "' has shape " + t.shapeString()
                    + ", expected " + Arrays.toString(shape));
        }
        return t;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }
}

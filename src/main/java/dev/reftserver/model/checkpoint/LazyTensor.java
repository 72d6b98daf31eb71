package dev.reftserver.model.checkpoint;

import java.util.function.Supplier;

/**
 * A checkpoint tensor known by name and shape, whose values are read only when asked for: a loader reads one
 * tensor at a time and drops it, so a checkpoint is never held on the heap whole.
 */
public record LazyTensor(String name, long[] shape, Supplier<float[]> values) {

    public static LazyTensor of(TensorData t) {
        return new LazyTensor(t.name(), t.shape(), t::data);
    }

    public TensorData read() {
        return new TensorData(name, shape.clone(), values.get());
    }
}

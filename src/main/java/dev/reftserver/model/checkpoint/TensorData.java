package dev.reftserver.model.checkpoint;

import java.util.Arrays;

/** One named fp32 tensor read from a checkpoint, row-major. */
public record TensorData(String name, long[] shape, float[] data) {

    public TensorData {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != data.length) {
            throw new IllegalArgumentException(
                    name + ": shape " + Arrays.toString(shape) + " does not match " + data.length + " values");
        }
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}

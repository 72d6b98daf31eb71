package dev.reftserver.intervention;

import java.util.Arrays;

/**
 * A dense row-major fp32 tensor on the Java heap: what every reader widens F16/BF16 into and what the math and
 * the writers consume. Arrays are shared, not copied; treat both as read-only.
 */
record FloatTensor(int[] shape, float[] data) {

    FloatTensor {
        long n = 1;
        for (int s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
            n *= s;
        }
        if (n != data.length) {
            throw new IllegalArgumentException(
                    "shape " + Arrays.toString(shape) + " needs " + n + " values, got " + data.length);
        }
    }

    static FloatTensor of(float[] data, int... shape) {
        return new FloatTensor(shape.clone(), data);
    }

    int rank() {
        return shape.length;
    }

    int dim(int i) {
        return shape[i];
    }

    boolean hasShape(int... expected) {
        return Arrays.equals(shape, expected);
    }

    String shapeText() {
        return Arrays.toString(shape);
    }

    /** Index of the first NaN or infinite value, or -1. */
    int firstNonFinite() {
        for (int i = 0; i < data.length; i++) {
            if (!Float.isFinite(data[i])) {
                return i;
            }
        }
        return -1;
    }

    /** The [rows, cols] matrix transposed. */
    FloatTensor transpose2d() {
        int rows = shape[0];
        int cols = shape[1];
        float[] out = new float[data.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[j * rows + i] = data[i * cols + j];
            }
        }
        return of(out, cols, rows);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FloatTensor t && Arrays.equals(shape, t.shape) && Arrays.equals(data, t.data);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "FloatTensor" + shapeText();
    }
}

package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Scalar constants for differentiable forwards. DJL's {@code NDArray.add/mul/div/pow(Number)} make the scalar an
 * array over a direct buffer of DJL's, apply the op and close that array at once; libtorch's autograd keeps the
 * scalar tensor for the backward of {@code mul}, {@code div} and {@code pow}, but the buffer under it goes back to
 * the allocator at the next GC that collects it, so a backward after such a GC reads freed memory (NaN or worse
 * gradients now and then, more often under memory pressure). An array made here belongs to {@code owner} and lives
 * until it closes, after the backward. Forward-only code may use DJL's scalar ops.
 */
public final class Constants {

    private Constants() {
    }

    /** {@code value} as a float32 scalar array of {@code owner}. */
    public static NDArray of(NDManager owner, float value) {
        return owner.create(value);
    }
}

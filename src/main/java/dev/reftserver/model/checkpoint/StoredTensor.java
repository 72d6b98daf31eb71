package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ops.NativeOps;

/**
 * A checkpoint tensor read into native memory in the dtype the checkpoint stores it in: {@code F32}, {@code F16} or
 * {@code BF16}. A BF16 {@code array} is a view of {@code memory}'s bytes (a float16 array of the same two bytes per
 * element, the only two-byte dtype DJL makes from bytes) and is for libtorch ops on its handle only: DJL's Java side
 * cannot describe bfloat16 arrays (see {@link NativeOps#bfloat16View}); nothing that shares a BF16 array's memory
 * may be kept after {@link #close}. F32 and F16 arrays own their memory in libtorch's allocator (never a buffer DJL
 * allocated), so a result sharing it stays valid.
 */
public record StoredTensor(NDArray array, String dtype, NDArray memory) implements AutoCloseable {

    public boolean isBfloat16() {
        return dtype.equals("BF16");
    }

    /** The values as a new float32 array of the same manager (exact widening); this tensor is closed. */
    public NDArray toFloat32() {
        switch (dtype) {
            case "F32" -> {
                return array;
            }
            case "F16" -> {
                NDArray f = array.toType(DataType.FLOAT32, true);
                close();
                return f;
            }
            default -> {
                try (NativeOps op = new NativeOps()) {
                    NDArray f = op.keep(op.float32(NativeOps.handle(array)), memory.getManager());
                    close();
                    return f;
                }
            }
        }
    }

    @Override
    public void close() {
        array.close();
        if (memory != array) {
            memory.close();
        }
    }
}

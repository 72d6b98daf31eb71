package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ops.NativeOps;

/**
 * Where a finished weight goes: the model's manager and device, in bfloat16 (projections and tables kept at 2 bytes)
 * or the model's dtype. Loading makes each weight as a temporary in float32 or its stored dtype; this moves it.
 */
final class Placement {

    private final NDManager manager;
    private final DataType dtype;
    private final boolean bfloat16Weights;

    Placement(NDManager manager, DataType dtype, boolean bfloat16Weights) {
        this.manager = manager;
        this.dtype = dtype;
        this.bfloat16Weights = bfloat16Weights;
    }

    /**
     * {@code h} (a tensor of dtype {@code stored}: F32, F16 or BF16; a bfloat16 one new and owned by {@code op},
     * never a stored tensor's view of its bytes) as a weight of the model's manager, in bfloat16 or the model's
     * dtype.
     */
    NDArray keep(NativeOps op, long h, String stored) {
        // A conversion to the dtype h already has makes a new handle to the same tensor, owned by op (it may be
        // a stored float32 tensor, which owns its memory).
        if (manager.getDevice().isGpu()) {
            // moved in float32, which DJL can describe, and converted on the device
            NDArray cpu = op.keep(op.float32(h), manager);
            NDArray onDevice = cpu.toDevice(manager.getDevice(), false);
            cpu.close();
            if (!bfloat16Weights) {
                return inDtype(onDevice);
            }
            NDArray b = op.keep(op.bfloat16(NativeOps.handle(onDevice)), manager);
            onDevice.close();
            return b;
        }
        long t = bfloat16Weights ? (stored.equals("BF16") ? h : op.bfloat16(h)) : op.float32(h);
        NDArray a = op.keep(t, manager);
        return bfloat16Weights ? a : inDtype(a);
    }

    /** A float32 vector or table (a new array this takes over) as an array of the model's manager and dtype. */
    NDArray keepVector(NDArray f) {
        NDArray v = f.toDevice(manager.getDevice(), false);
        v.attach(manager);
        return inDtype(v);
    }

    /** {@code a} (of the model's manager) in the model's dtype, {@code a} itself when already in it. */
    NDArray inDtype(NDArray a) {
        NDArray t = a.toType(dtype, false);
        if (t != a) {
            a.close();
        }
        return t;
    }

    /** A float32 array (RoPE tables, constants) in {@code type} under the model's manager. */
    NDArray load(float[] data, DataType type, long... shape) {
        return manager.create(data, new Shape(shape)).toType(type, false);
    }
}

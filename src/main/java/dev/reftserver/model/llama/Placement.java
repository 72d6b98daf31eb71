package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.StoredTensor;
import dev.reftserver.model.ops.NativeOps;
import java.nio.ByteBuffer;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

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

    /**
     * The checkpoint's embedding table [vocab, d] as a weight of the model, times {@code multiplier} where it is not
     * 1 (Gemma's sqrt(d), Granite's embedding_multiplier: folded, the float32 products HF computes). A bfloat16
     * table kept in bfloat16 on a CPU is kept as read, without a copy: the view and the memory it shares both move
     * to the model.
     */
    NDArray embedding(NDManager temporaries, Checkpoint ckpt, int vocab, int d, float multiplier) {
        if (multiplier == 1f && bfloat16Weights && !manager.getDevice().isGpu()) {
            ByteBuffer mapped = ckpt.requireMappedBfloat16("model.embed_tokens.weight", vocab, d);
            if (mapped != null) {
                return mappedTable(mapped, vocab, d);
            }
        }
        try (NDManager em = temporaries.newSubManager(); NativeOps op = new NativeOps()) {
            StoredTensor table = ckpt.requireStored(em, "model.embed_tokens.weight", vocab, d);
            long e = NativeOps.handle(table.array());
            if (multiplier != 1f) {
                // a one-element vector takes part in type promotion: bfloat16 times it is float32
                NDArray mul = em.create(new float[] {multiplier}, new Shape(1));
                return keep(op, op.mul(e, NativeOps.handle(mul)), "F32");
            }
            if (table.isBfloat16() && bfloat16Weights && !manager.getDevice().isGpu()) {
                table.memory().attach(manager);
                table.array().attach(manager);
                return table.array();
            }
            // a conversion makes a new tensor, and a float32 one owns its memory (see keep)
            return keep(op, e, table.dtype());
        }
    }

    /**
     * A BF16 table kept as a view of the checkpoint file's memory map, which the model's manager holds as long as
     * it holds the view: no copy, and only the pages of the rows looked up are ever read (a lookup reads a few rows).
     * The map is released by the garbage collector once the manager, and the view with it, is closed.
     */
    private NDArray mappedTable(ByteBuffer mapped, int vocab, int d) {
        try (NativeOps op = new NativeOps()) {
            NDArray table = op.keep(op.bfloat16View(mapped, vocab, d), manager);
            AtomicReference<ByteBuffer> held = new AtomicReference<>(mapped);
            manager.attachInternal(UUID.randomUUID().toString(), () -> held.set(null));
            return table;
        }
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

    /** A float32 array of another manager, moved to the model's manager and device, in {@code type}. */
    NDArray keepTable(NDArray f, DataType type) {
        NDArray v = f.getDevice().equals(manager.getDevice()) ? f : f.toDevice(manager.getDevice(), false);
        v.attach(manager);
        NDArray t = v.toType(type, false);
        if (t != v) {
            v.close();
        }
        return t;
    }

    /** A float32 array (RoPE tables, constants) in {@code type} under the model's manager. */
    NDArray load(float[] data, DataType type, long... shape) {
        return manager.create(data, new Shape(shape)).toType(type, false);
    }
}

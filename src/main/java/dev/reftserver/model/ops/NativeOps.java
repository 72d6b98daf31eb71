package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;

/**
 * libtorch ops on raw tensor handles, for the inside of a block. Each DJL op wraps its result in an {@code NDArray}
 * (an id string, a synchronized attach to its manager, a detach on close): about 3 to 6 microseconds of Java per
 * op against about 1 for the native call itself, measured on [1, 12, 48] tensors. A block runs a few dozen small
 * ops per part, so the intermediates of one part live here instead: every handle an op returns is owned by this
 * scope and deleted on {@link #close()}, except the results handed back as NDArrays with {@link #keep}.
 *
 * <p>The ops are DJL's own JNI entry points ({@link Jni}), with DJL's argument conventions. One scope belongs to
 * one thread.
 */
public final class NativeOps implements AutoCloseable {

    private static final Class<?> J = long.class;
    private static final MethodHandle MATMUL = Jni.bind("torchMatmul", J, J, J);
    private static final MethodHandle MUL = Jni.bind("torchMul", J, J, J);
    private static final MethodHandle MULI = Jni.bind("torchMuli", void.class, J, J);
    private static final MethodHandle ADD = Jni.bind("torchAdd", J, J, J);
    private static final MethodHandle ADDI = Jni.bind("torchAddi", void.class, J, J);
    private static final MethodHandle POWI = Jni.bind("torchPowi", void.class, J, J);
    private static final MethodHandle MEAN = Jni.bind("torchMean", J, J, J, boolean.class);
    private static final MethodHandle SIGMOID = Jni.bind("torchSigmoid", J, J);
    private static final MethodHandle TANH = Jni.bind("torchTanh", J, J);
    private static final MethodHandle GELU = Jni.bind("torchNNGelu", J, J);
    private static final MethodHandle RELU = Jni.bind("torchNNRelu", J, J);
    private static final MethodHandle SOFTMAX = Jni.bind("torchSoftmax", J, J, J, int.class);
    private static final MethodHandle RESHAPE = Jni.bind("torchReshape", J, J, long[].class);
    private static final MethodHandle PERMUTE = Jni.bind("torchPermute", J, J, long[].class);
    private static final MethodHandle SLICE = Jni.bind("torchSlice", J, J, J, J, J, J);
    private static final MethodHandle INDEX_PUT = Jni.bind("torchIndexPut", void.class, J, J, long[].class,
            long[].class, long[].class);
    private static final MethodHandle INDEX_INIT = Jni.bind("torchIndexInit", J, int.class);
    private static final MethodHandle INDEX_APPEND = Jni.bind("torchIndexAppendArray", void.class, J, J);
    private static final MethodHandle INDEX_GET = Jni.bind("torchIndexAdvGet", J, J, J);
    private static final MethodHandle INDEX_SET = Jni.bind("torchIndexAdvPut", void.class, J, J, J);
    private static final MethodHandle INDEX_DELETE = Jni.bind("torchDeleteIndex", void.class, J);
    private static final MethodHandle CAT = Jni.bind("torchCat", J, long[].class, J);
    private static final MethodHandle LAYER_NORM = Jni.bind("torchNNLayerNorm", J, J, long[].class, J, J,
            double.class);
    private static final MethodHandle DELETE = Jni.bind("torchDeleteTensor", void.class, J);
    private static final MethodHandle SIZES = Jni.bind("torchSizes", long[].class, J);
    private static final MethodHandle SET_STORAGE = Jni.bind("torchSet", void.class, J, java.nio.ByteBuffer.class);
    private static final MethodHandle BYTES = Jni.bind("torchDirectByteBuffer", java.nio.ByteBuffer.class, J);

    private long[] owned = new long[64];
    private int count;

    /** The libtorch handle of a DJL array (still owned by its manager). */
    public static long handle(NDArray a) {
        return ((PtNDArray) a).getHandle();
    }

    private long own(long h) {
        if (count == owned.length) {
            owned = Arrays.copyOf(owned, count * 2);
        }
        owned[count++] = h;
        return h;
    }

    /**
     * Hands {@code h} (owned by this scope) to {@code manager} as an NDArray; this scope no longer deletes it. Views
     * among the handles this scope deletes stay valid: libtorch keeps a storage alive while any tensor uses it.
     */
    public NDArray keep(long h, NDManager manager) {
        return new PtNDArray((PtNDManager) manager, release(h));
    }

    /** Gives up ownership of {@code h} (for a result another scope will {@link #adopt}). */
    public long release(long h) {
        for (int i = count - 1; i >= 0; i--) {
            if (owned[i] == h) {
                owned[i] = owned[--count];
                return h;
            }
        }
        throw new IllegalArgumentException("handle not owned by this scope");
    }

    /** Takes ownership of a handle another scope released; 0 (no handle) is ignored. */
    public void adopt(long h) {
        if (h != 0) {
            own(h);
        }
    }

    public long matmul(long a, long b) {
        return own(call(() -> (long) MATMUL.invokeExact(a, b)));
    }

    public long mul(long a, long b) {
        return own(call(() -> (long) MUL.invokeExact(a, b)));
    }

    /** {@code a *= b} (b broadcast). */
    public void muli(long a, long b) {
        run(() -> { MULI.invokeExact(a, b); });
    }

    public long add(long a, long b) {
        return own(call(() -> (long) ADD.invokeExact(a, b)));
    }

    /** {@code a += b} (b broadcast). */
    public void addi(long a, long b) {
        run(() -> { ADDI.invokeExact(a, b); });
    }

    /** {@code a = a ^ b} with b a (scalar) tensor; an exponent of -0.5 runs libtorch's rsqrt kernel. */
    public void powi(long a, long b) {
        run(() -> { POWI.invokeExact(a, b); });
    }

    public long mean(long a, int dim, boolean keepDim) {
        return own(call(() -> (long) MEAN.invokeExact(a, (long) dim, keepDim)));
    }

    public long sigmoid(long a) {
        return own(call(() -> (long) SIGMOID.invokeExact(a)));
    }

    public long tanh(long a) {
        return own(call(() -> (long) TANH.invokeExact(a)));
    }

    /** torch's exact {@code gelu} (the erf form). */
    public long gelu(long a) {
        return own(call(() -> (long) GELU.invokeExact(a)));
    }

    public long relu(long a) {
        return own(call(() -> (long) RELU.invokeExact(a)));
    }

    /** {@code a} as a new bfloat16 tensor (see {@link Bfloat16Cast}: never hand it to DJL's Java side). */
    public long bfloat16(long a) {
        return own(Bfloat16Cast.toBfloat16(a));
    }

    /** {@code a} as a new float32 tensor. */
    public long float32(long a) {
        return own(Bfloat16Cast.toFloat32(a));
    }

    /**
     * float32 x [..., in] times the bfloat16 output-major weights w [out_i, in], computed in bfloat16, as one float32
     * result with the products side by side [..., sum of out_i] (x rounded once; one to three weights).
     */
    public long linearBfloat16(long x, long... w) {
        return own(Bfloat16Cast.linear(x, w));
    }

    /** A bfloat16 output-major weight [out, in] packed for {@link #packedLinear} (CPU only; see Bfloat16Cast). */
    public long packBfloat16(long w) {
        return own(Bfloat16Cast.pack(w));
    }

    /** float32 x [..., in] times a weight from {@link #packBfloat16}, computed in bfloat16, as a float32 result. */
    public long packedLinear(long x, long packed) {
        return own(Bfloat16Cast.packedLinear(x, packed));
    }

    /** As {@link #packedLinear}, written as float32 into the view {@code into} (see Bfloat16Cast). */
    public long packedLinearInto(long x, long packed, long into) {
        return own(Bfloat16Cast.packedLinearInto(x, packed, into));
    }

    /** An uninitialised contiguous float32 tensor of {@code shape}. */
    public long emptyFloat32(long... shape) {
        return own(Bfloat16Cast.emptyFloat32(shape));
    }

    /** The sizes of a tensor (any layout, oneDNN's packed one too). */
    public static long[] sizes(long h) {
        try {
            return (long[]) SIZES.invokeExact(h);
        } catch (Throwable t) {
            throw Jni.rethrow(t);
        }
    }

    /** Each row's argmax of the matrix {@code x}, as int64 [rows] (the first of ties; see Bfloat16Cast). */
    public long rowArgmax(long x) {
        return own(Bfloat16Cast.rowArgmax(x));
    }

    /**
     * A decode step's keys and values written into a bfloat16 cache and its attention over it, in one call (see
     * Bfloat16Cast); float32 out.
     */
    public long writeAndAttendBfloat16(long q, long k, long v, long keys, long values, long slots, long positions,
            long mask, long capInverse, long cap) {
        return own(Bfloat16Cast.writeAndAttend(q, k, v, keys, values, slots, positions, mask, capInverse, cap));
    }

    /** Rows {@code ids} (int64) of a bfloat16 table, as float32. */
    public long rowsBfloat16(long table, long ids) {
        return own(Bfloat16Cast.rows(table, ids));
    }

    /** Softmax over {@code dim}, computed in {@code dtype}. */
    public long softmax(long a, int dim, DataType dtype) {
        return own(call(() -> (long) SOFTMAX.invokeExact(a, (long) dim, dtype.ordinal())));
    }

    /** A view (or, where strides do not allow one, a copy) of {@code a} with the given shape. */
    public long reshape(long a, long... shape) {
        return own(call(() -> (long) RESHAPE.invokeExact(a, shape)));
    }

    /** {@code a.slice(dim, start, end)}: a view; {@code end} is clamped to the size. */
    public long slice(long a, int dim, long start, long end) {
        return own(call(() -> (long) SLICE.invokeExact(a, (long) dim, start, end, 1L)));
    }

    /** {@code a[min_0:max_0:step_0, ...] = value} in place (value broadcast). */
    public void put(long a, long value, long[] min, long[] max, long[] step) {
        run(() -> { INDEX_PUT.invokeExact(a, value, min, max, step); });
    }

    /** The arrays joined along {@code dim}. */
    public long cat(long[] parts, int dim) {
        return own(call(() -> (long) CAT.invokeExact(parts, (long) dim)));
    }

    /** The dimensions of {@code a} reordered: a view. */
    public long permute(long a, long... dims) {
        return own(call(() -> (long) PERMUTE.invokeExact(a, dims)));
    }

    /** {@code a[index]} with an int64 index array over the first dimension (rows of a table): a copy. */
    public long take(long a, long index) {
        long idx = index(index);
        try {
            return own(call(() -> (long) INDEX_GET.invokeExact(a, idx)));
        } finally {
            deleteIndex(idx);
        }
    }

    /** {@code a[index] = value} in place, with an int64 index array over the first dimension. */
    public void set(long a, long index, long value) {
        long idx = index(index);
        try {
            run(() -> { INDEX_SET.invokeExact(a, idx, value); });
        } finally {
            deleteIndex(idx);
        }
    }

    /** A native index of one int64 array, to delete after use. */
    private static long index(long array) {
        long idx = call(() -> (long) INDEX_INIT.invokeExact(1));
        run(() -> { INDEX_APPEND.invokeExact(idx, array); });
        return idx;
    }

    private static void deleteIndex(long idx) {
        run(() -> { INDEX_DELETE.invokeExact(idx); });
    }

    /** torch.nn.functional.layer_norm over the last dimension of {@code a}, of size {@code width}. */
    public long layerNorm(long a, long width, long weight, long bias, double eps) {
        return own(call(() -> (long) LAYER_NORM.invokeExact(a, new long[] {width}, weight, bias, eps)));
    }

    /** {@code x} plus each of {@code parts}, in order, as a new array (the residual add of a split op). */
    public long sum(long x, long[] parts) {
        long out = add(x, parts[0]);
        for (int i = 1; i < parts.length; i++) {
            addi(out, parts[i]);
        }
        return out;
    }

    // ---- Loading: tensors made from a checkpoint's bytes and laid out for the model --------------------------

    /**
     * A bfloat16 tensor of {@code shape} (owned by this scope) whose storage is {@code bits}, a direct buffer (e.g. a
     * file's memory map) holding at least its elements, little-endian; no copy. DJL cannot make a bfloat16 tensor
     * from a buffer, so an empty bfloat16 tensor is made and pointed at the buffer's bytes (libtorch's {@code set_}).
     * The result does not own that memory: it must not be used, nor anything that views it be kept, once the
     * buffer's memory is freed.
     */
    public long bfloat16View(java.nio.ByteBuffer bits, long... shape) {
        long elements = 1;
        for (long s : shape) {
            elements = Math.multiplyExact(elements, s);
        }
        if (!bits.isDirect() || bits.capacity() < 2 * elements) {
            throw new IllegalArgumentException("bfloat16 bits must be a direct buffer of " + 2 * elements + " bytes");
        }
        long view = own(Bfloat16Cast.empty(shape));
        try {
            SET_STORAGE.invokeExact(view, bits);
            return view;
        } catch (Throwable t) {
            throw Jni.rethrow(t);
        }
    }

    /** An uninitialised contiguous bfloat16 tensor of {@code shape}, to be filled through {@link #bytes}. */
    public long emptyBfloat16(long... shape) {
        return own(Bfloat16Cast.empty(shape));
    }

    /**
     * A direct buffer over the bytes of the contiguous CPU tensor {@code h} (any dtype): writes go into the tensor.
     * Valid while the tensor lives; the caller keeps it no longer.
     */
    public java.nio.ByteBuffer bytes(long h) {
        try {
            return (java.nio.ByteBuffer) BYTES.invokeExact(h);
        } catch (Throwable t) {
            throw Jni.rethrow(t);
        }
    }

    /** A new tensor with the values, dtype and shape of {@code a} (any dtype), always a copy. */
    public long copy(long a) {
        return own(Bfloat16Cast.copy(a));
    }

    /** Deletes every handle this scope still owns. */
    @Override
    public void close() {
        RuntimeException failure = null;
        for (int i = 0; i < count; i++) {
            try {
                DELETE.invokeExact(owned[i]);
            } catch (Throwable t) {
                if (failure == null) {
                    failure = Jni.rethrow(t);
                }
            }
        }
        count = 0;
        if (failure != null) {
            throw failure;
        }
    }

    /** A native call that returns a handle. */
    @FunctionalInterface
    private interface Call {
        long run() throws Throwable;
    }

    /** A native call that returns nothing. */
    @FunctionalInterface
    private interface Effect {
        void run() throws Throwable;
    }

    private static long call(Call c) {
        try {
            return c.run();
        } catch (Throwable t) {
            throw Jni.rethrow(t);
        }
    }

    private static void run(Effect e) {
        try {
            e.run();
        } catch (Throwable t) {
            throw Jni.rethrow(t);
        }
    }
}

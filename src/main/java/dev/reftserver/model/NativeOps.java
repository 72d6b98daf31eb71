package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Arrays;

/**
 * libtorch ops on raw tensor handles, for the inside of a block. Each DJL op wraps its result in an {@code NDArray}
 * (an id string, a synchronized attach to its manager, a detach on close): about 3 to 6 microseconds of Java per
 * op against about 1 for the native call itself, measured on [1, 12, 48] tensors. A block runs a few dozen small
 * ops per part, so the intermediates of one part live here instead: every handle an op returns is owned by this
 * scope and deleted on {@link #close()}, except the results handed back as NDArrays with {@link #keep}.
 *
 * <p>The ops are DJL's own JNI entry points (the package-private {@code ai.djl.pytorch.jni.PyTorchLibrary}, reached
 * through method handles once at class load), with DJL's argument conventions; the pinned DJL version is what the
 * model tests run against. One scope belongs to one thread.
 */
public final class NativeOps implements AutoCloseable {

    private static final Object LIB;
    private static final MethodHandle MATMUL;
    private static final MethodHandle MUL;
    private static final MethodHandle MULI;
    private static final MethodHandle ADD;
    private static final MethodHandle ADDI;
    private static final MethodHandle POWI;
    private static final MethodHandle MEAN;
    private static final MethodHandle SIGMOID;
    private static final MethodHandle TANH;
    private static final MethodHandle SOFTMAX;
    private static final MethodHandle RESHAPE;
    private static final MethodHandle SLICE;
    private static final MethodHandle INDEX_PUT;
    private static final MethodHandle CAT;
    private static final MethodHandle DELETE;
    private static final MethodHandle SET_STORAGE;

    static {
        try {
            Class<?> lib = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
            MethodHandles.Lookup lookup = MethodHandles.privateLookupIn(lib, MethodHandles.lookup());
            java.lang.reflect.Field field = lib.getDeclaredField("LIB");
            field.setAccessible(true);
            LIB = field.get(null);
            MethodType binary = MethodType.methodType(long.class, long.class, long.class);
            MethodType inPlace = MethodType.methodType(void.class, long.class, long.class);
            MATMUL = bind(lookup, lib, "torchMatmul", binary);
            MUL = bind(lookup, lib, "torchMul", binary);
            MULI = bind(lookup, lib, "torchMuli", inPlace);
            ADD = bind(lookup, lib, "torchAdd", binary);
            ADDI = bind(lookup, lib, "torchAddi", inPlace);
            POWI = bind(lookup, lib, "torchPowi", inPlace);
            MEAN = bind(lookup, lib, "torchMean",
                    MethodType.methodType(long.class, long.class, long.class, boolean.class));
            SIGMOID = bind(lookup, lib, "torchSigmoid", MethodType.methodType(long.class, long.class));
            TANH = bind(lookup, lib, "torchTanh", MethodType.methodType(long.class, long.class));
            SOFTMAX = bind(lookup, lib, "torchSoftmax",
                    MethodType.methodType(long.class, long.class, long.class, int.class));
            RESHAPE = bind(lookup, lib, "torchReshape", MethodType.methodType(long.class, long.class, long[].class));
            SLICE = bind(lookup, lib, "torchSlice",
                    MethodType.methodType(long.class, long.class, long.class, long.class, long.class, long.class));
            INDEX_PUT = bind(lookup, lib, "torchIndexPut", MethodType.methodType(void.class, long.class, long.class,
                    long[].class, long[].class, long[].class));
            CAT = bind(lookup, lib, "torchCat", MethodType.methodType(long.class, long[].class, long.class));
            DELETE = bind(lookup, lib, "torchDeleteTensor", MethodType.methodType(void.class, long.class));
            SET_STORAGE = bind(lookup, lib, "torchSet",
                    MethodType.methodType(void.class, long.class, java.nio.ByteBuffer.class));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExceptionInInitializerError(
                    "DJL's PyTorch JNI entry points are not where this build expects them: " + e);
        }
    }

    private static MethodHandle bind(MethodHandles.Lookup lookup, Class<?> lib, String name, MethodType type)
            throws ReflectiveOperationException {
        return lookup.findVirtual(lib, name, type).bindTo(LIB);
    }

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
        try {
            return own((long) MATMUL.invokeExact(a, b));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public long mul(long a, long b) {
        try {
            return own((long) MUL.invokeExact(a, b));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code a *= b} (b broadcast). */
    public void muli(long a, long b) {
        try {
            MULI.invokeExact(a, b);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public long add(long a, long b) {
        try {
            return own((long) ADD.invokeExact(a, b));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code a += b} (b broadcast). */
    public void addi(long a, long b) {
        try {
            ADDI.invokeExact(a, b);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code a = a ^ b} with b a (scalar) tensor; an exponent of -0.5 runs libtorch's rsqrt kernel. */
    public void powi(long a, long b) {
        try {
            POWI.invokeExact(a, b);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public long mean(long a, int dim, boolean keepDim) {
        try {
            return own((long) MEAN.invokeExact(a, (long) dim, keepDim));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public long sigmoid(long a) {
        try {
            return own((long) SIGMOID.invokeExact(a));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public long tanh(long a) {
        try {
            return own((long) TANH.invokeExact(a));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code a} as a new bfloat16 tensor (see {@link Bfloat16Cast}: never hand it to DJL's Java side). */
    public long bfloat16(long a) {
        return own(Bfloat16Cast.toBfloat16(a));
    }

    /** {@code a} as a new float32 tensor. */
    public long float32(long a) {
        return own(Bfloat16Cast.toFloat32(a));
    }

    /** float32 x [..., in] times bfloat16 w [in, out], computed in bfloat16, as a float32 result. */
    public long linearBfloat16(long x, long w) {
        return own(Bfloat16Cast.linear(x, w));
    }

    /** Rows {@code ids} (int64) of a bfloat16 table, as float32. */
    public long rowsBfloat16(long table, long ids) {
        return own(Bfloat16Cast.rows(table, ids));
    }

    /** Softmax over {@code dim}, computed in {@code dtype}. */
    public long softmax(long a, int dim, DataType dtype) {
        try {
            return own((long) SOFTMAX.invokeExact(a, (long) dim, dtype.ordinal()));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A view (or, where strides do not allow one, a copy) of {@code a} with the given shape. */
    public long reshape(long a, long... shape) {
        try {
            return own((long) RESHAPE.invokeExact(a, shape));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code a.slice(dim, start, end)}: a view; {@code end} is clamped to the size. */
    public long slice(long a, int dim, long start, long end) {
        try {
            return own((long) SLICE.invokeExact(a, (long) dim, start, end, 1L));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code a[min_0:max_0:step_0, ...] = value} in place (value broadcast). */
    public void put(long a, long value, long[] min, long[] max, long[] step) {
        try {
            INDEX_PUT.invokeExact(a, value, min, max, step);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The arrays joined along {@code dim}. */
    public long cat(long[] parts, int dim) {
        try {
            return own((long) CAT.invokeExact(parts, (long) dim));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- Loading: tensors made from a checkpoint's bytes and laid out for the model --------------------------

    /**
     * A bfloat16 tensor (owned by this scope) whose storage is {@code bits}, a direct buffer holding bfloat16 values
     * little-endian in the shape of {@code shaped}, any tensor of that shape; no copy. DJL cannot make a bfloat16
     * tensor from a buffer, so an empty bfloat16 tensor of that shape is made and pointed at the buffer's bytes
     * (libtorch's {@code set_}). The result does not own that memory: it must not be used, nor anything that views
     * it be kept, once the buffer's memory is freed.
     */
    public long bfloat16View(java.nio.ByteBuffer bits, long shaped) {
        if (!bits.isDirect()) {
            throw new IllegalArgumentException("bfloat16 bits must be in a direct buffer");
        }
        long view = own(Bfloat16Cast.emptyLike(shaped));
        try {
            SET_STORAGE.invokeExact(view, bits);
            return view;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The matrix {@code w} [rows, cols] (any dtype) as a new contiguous [cols, rows] tensor, always a copy. */
    public long transposed(long w) {
        return own(Bfloat16Cast.transposed(w));
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
                    failure = rethrow(t);
                }
            }
        }
        count = 0;
        if (failure != null) {
            throw failure;
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            return e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}

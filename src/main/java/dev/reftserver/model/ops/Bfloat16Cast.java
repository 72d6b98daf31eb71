package dev.reftserver.model.ops;

import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Converts tensors to and from bfloat16 on the native side. DJL 0.36's native library has no bfloat16 in its dtype
 * table: creating a BF16 array from a Java buffer aborts the JVM, and so does {@code toType(BFLOAT16)} (libtorch's
 * {@code to} reached through DJL's dtype number; measured: "terminate called without an active exception"). A
 * TorchScript module names the dtype by libtorch's own number instead, so it runs here: a small module
 * ({@code torch.to(x, 15)}, 15 = ScalarType::BFloat16) written as a TorchScript archive at first use and loaded
 * through DJL's module JNI ({@link Bfloat16Module}). Back to float32 goes the same way (DJL's number for float32 maps, but asking DJL for a
 * BF16 array's dtype would not). Arrays made here must stay raw handles: DJL's Java side cannot describe them.
 * The same module carries the few other ops DJL's JNI lacks or runs slowly (oneDNN packing, a row-wise argmax).
 */
final class Bfloat16Cast {

    private static final MethodHandle RUN;
    private static final MethodHandle FROM_TENSOR;
    private static final MethodHandle TO_TENSOR;
    private static final MethodHandle DELETE_IVALUE;
    private static final MethodHandle FROM_LONGS;
    private static final long MODULE;

    static {
        try {
            MethodHandle load = Jni.bind("moduleLoad", long.class, String.class, int[].class, boolean.class,
                    String[].class, String[].class, boolean.class);
            RUN = Jni.bind("moduleRunMethod", long.class, long.class, String.class, long[].class, boolean.class,
                    boolean.class);
            FROM_TENSOR = Jni.bind("iValueFromTensor", long.class, long.class);
            TO_TENSOR = Jni.bind("iValueToTensor", long.class, long.class);
            DELETE_IVALUE = Jni.bind("torchDeleteIValue", void.class, long.class);
            FROM_LONGS = Jni.bind("iValueFromLongList", long.class, long[].class);
            Path archive = Files.createTempFile("reft-bf16-cast", ".pt");
            try {
                Files.write(archive, Bfloat16Module.archive());
                MODULE = (long) load.invoke(archive.toString(), new int[] {0, -1}, false, new String[0],
                        new String[0], false);
            } finally {
                Files.deleteIfExists(archive);
            }
        } catch (Throwable e) {
            throw new ExceptionInInitializerError("cannot set up the bfloat16 cast: " + e);
        }
    }

    private Bfloat16Cast() {
    }

    /** A new bfloat16 tensor with the values of {@code tensor} (rounded to nearest even); the caller owns it. */
    static long toBfloat16(long tensor) {
        return run("forward", tensor);
    }

    /** A new float32 tensor with the values of {@code tensor}; the caller owns it. */
    static long toFloat32(long tensor) {
        return run("back", tensor);
    }

    /**
     * float32 x [..., in] times the bfloat16 output-major weights w [out_i, in] ({@code linear}), computed in
     * bfloat16, as one new float32 tensor with the products side by side (x rounded once; one to three weights).
     */
    static long linear(long x, long... w) {
        return switch (w.length) {
            case 1 -> run("linear", x, w[0]);
            case 2 -> run("linear2", x, w[0], w[1]);
            case 3 -> run("linear3", x, w[0], w[1], w[2]);
            default -> throw new IllegalArgumentException("one to three weights, not " + w.length);
        };
    }

    /**
     * The bfloat16 output-major weight {@code w} [out, in] (contiguous) laid out for oneDNN's matrix multiply with AVX-512 BF16
     * ({@code torch.ops.mkldnn._reorder_linear_weight}, as PyTorch's own CPU compiler packs a linear layer): an opaque
     * tensor of the same bytes, for {@link #packedLinear} only; the caller owns it. Measured with libtorch 2.7.1 on
     * one thread of this CPU: 896 x 4,864 at batch 1 in 425 against 764 microseconds unpacked (20.5 against 11.4 GB/s
     * of weight), 2,048 x 8,192 in 1.30 against 4.34 ms; no slower for a 512-row prefill.
     */
    static long pack(long w) {
        return run("pack", w);
    }

    /** float32 x [..., in] times a {@link #pack packed} weight, computed in bfloat16, as a new float32 tensor. */
    static long packedLinear(long x, long packed) {
        return run("packed_linear", x, packed);
    }

    /**
     * float32 x [..., in] times a {@link #pack packed} weight [out, in], computed in bfloat16, written as float32 into
     * {@code into} [..., out] (a view, e.g. some columns of a larger output): the conversion is the copy, so the
     * product's float32 values are written once. Returns a new handle of {@code into}.
     */
    static long packedLinearInto(long x, long packed, long into) {
        return run("packed_linear_into", x, packed, into);
    }

    /** An uninitialised contiguous float32 tensor of {@code shape}; the caller owns it. */
    static long emptyFloat32(long... shape) {
        return run("empty_float32", new long[0], shape);
    }

    /** Rows {@code ids} (int64) of the bfloat16 table {@code w}, as a new float32 tensor. */
    static long rows(long w, long ids) {
        return run("rows", w, ids);
    }

    /** A new tensor with {@code tensor}'s values, dtype and shape (a copy, never a view); the caller owns it. */
    static long copy(long tensor) {
        return run("copy", tensor);
    }

    /**
     * The index of each row's largest value in the matrix {@code x} (int64 [rows]), the first where several tie, a
     * NaN counting as the largest: what {@code argmax(x, 1)} gives. Through {@code max(x, 1)}, whose kernel is faster
     * on a CPU: 0.37 to 0.45 of argmax's time with libtorch 2.7.1 on one thread ({@code RowArgmaxBench}: 16 x 151,936
     * float32 logits 1.45 against 3.73 ms, 16 x 32,000 0.36 against 0.81 ms).
     */
    static long rowArgmax(long x) {
        return run("row_argmax", x);
    }

    /**
     * One decode step's attention over bfloat16 keys and values, as transformers' eager attention computes a
     * bfloat16 model's: {@code softmax(bf16(q) k + mask)} in float32, rounded to bfloat16, times v; a new float32
     * tensor. With {@code cap} (0-dim, and its inverse) the scores are soft-capped first ({@code cap * tanh(s /
     * cap)}). This step's keys and values are written into the bfloat16 cache first, all in one call:
     * k and v [n, 1, kv_heads, head_dim] (float32, rounded to bfloat16 as they are stored) go to row i's slot
     * {@code slots[i]} at position {@code positions[i]} of {@code keys} [rows, kv_heads, head_dim, capacity] and
     * {@code values} [rows, kv_heads, capacity, head_dim]; q [n, kv_heads, group, head_dim] then reads slots [0, n),
     * keys [0, K) with K the mask's last dimension.
     */
    static long writeAndAttend(long q, long k, long v, long keys, long values, long slots, long positions,
            long mask, long inverse, long cap) {
        return cap == 0 ? run("write_attend", q, k, v, keys, values, slots, positions, mask)
                : run("write_attend_capped", q, k, v, keys, values, slots, positions, mask, inverse, cap);
    }

    /** An uninitialised contiguous bfloat16 tensor of {@code shape}; the caller owns it. */
    static long empty(long... shape) {
        return run("empty", new long[0], shape);
    }

    private static long run(String method, long... tensors) {
        return run(method, tensors, null);
    }

    /** {@code method} on the tensors, then (where not null) one list of ints. */
    private static long run(String method, long[] tensors, long[] ints) {
        long[] in = new long[tensors.length + (ints == null ? 0 : 1)];
        long out = 0;
        try {
            for (int i = 0; i < tensors.length; i++) {
                in[i] = (long) FROM_TENSOR.invokeExact(tensors[i]);
            }
            if (ints != null) {
                in[tensors.length] = (long) FROM_LONGS.invokeExact(ints);
            }
            // is_train true: DJL runs other modules under an inference-mode guard, whose outputs refuse the
            // in-place ops a block applies next (a bias add, a soft-cap); no input here requires a gradient, so no
            // graph is recorded either way.
            out = (long) RUN.invokeExact(MODULE, method, in, true, false);
            return (long) TO_TENSOR.invokeExact(out);
        } catch (Throwable t) {
            throw Jni.rethrow(t);
        } finally {
            for (long h : in) {
                deleteIValue(h);
            }
            deleteIValue(out);
        }
    }

    private static void deleteIValue(long h) {
        if (h != 0) {
            try {
                DELETE_IVALUE.invokeExact(h);
            } catch (Throwable t) {
                throw Jni.rethrow(t);
            }
        }
    }
}

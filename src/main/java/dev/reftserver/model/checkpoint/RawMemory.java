package dev.reftserver.model.checkpoint;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * Raw reads and writes of native memory through {@code sun.misc.Unsafe} (module jdk.unsupported), for the loader's
 * hot loops ({@link InputMajor}, {@link OutputMajor}): a direct buffer's bounds-checked accessors cost several nanoseconds an element
 * there, these compile to plain loads and stores. Every address comes from a direct buffer the caller holds, and
 * the caller checks every index against that buffer's capacity before the loop.
 */
final class RawMemory {

    private static final sun.misc.Unsafe UNSAFE;
    private static final long ADDRESS;
    private static final long SHORTS;

    static {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            UNSAFE = (sun.misc.Unsafe) f.get(null);
            ADDRESS = UNSAFE.objectFieldOffset(Buffer.class.getDeclaredField("address"));
            SHORTS = UNSAFE.arrayBaseOffset(short[].class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("no sun.misc.Unsafe: " + e);
        }
    }

    private RawMemory() {
    }

    /** The native address of a direct buffer's first element (its position 0). */
    static long address(ByteBuffer direct) {
        if (!direct.isDirect()) {
            throw new IllegalArgumentException("not a direct buffer");
        }
        return UNSAFE.getLong(direct, ADDRESS);
    }

    static short getShort(long address) {
        return UNSAFE.getShort(address);
    }

    static float getFloat(long address) {
        return UNSAFE.getFloat(address);
    }

    static void putFloat(long address, float value) {
        UNSAFE.putFloat(address, value);
    }

    static void putShort(long address, short value) {
        UNSAFE.putShort(address, value);
    }

    /** {@code count} shorts from native memory at {@code address} into {@code to}[0, count). */
    static void copyTo(long address, short[] to, int count) {
        if (count > to.length) {
            throw new IndexOutOfBoundsException(count + " shorts into " + to.length);
        }
        UNSAFE.copyMemory(null, address, to, SHORTS, 2L * count);
    }

    /** {@code from}[0, count) into native memory at {@code address}. */
    static void copyFrom(short[] from, long address, int count) {
        if (count > from.length) {
            throw new IndexOutOfBoundsException(count + " shorts from " + from.length);
        }
        UNSAFE.copyMemory(from, SHORTS, null, address, 2L * count);
    }

    /** {@code bytes} bytes from native memory at {@code from} to native memory at {@code to}. */
    static void copy(long from, long to, long bytes) {
        UNSAFE.copyMemory(from, to, bytes);
    }

    /** Unmaps a mapped buffer (or frees a direct one) now rather than at a GC; the buffer must not be used again. */
    static void free(ByteBuffer direct) {
        UNSAFE.invokeCleaner(direct);
    }
}

package dev.reftserver.model.ops;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;

/**
 * DJL's PyTorch JNI entry points (the package-private {@code ai.djl.pytorch.jni.PyTorchLibrary} and its singleton),
 * looked up once for {@link NativeOps} and {@link Bfloat16Cast}. The pinned DJL version is what the model tests run
 * against; a different one fails here, at class load, rather than mid-step.
 */
final class Jni {

    private static final Class<?> LIB_CLASS;
    private static final Object LIB;
    private static final MethodHandles.Lookup LOOKUP;

    static {
        try {
            LIB_CLASS = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
            LOOKUP = MethodHandles.privateLookupIn(LIB_CLASS, MethodHandles.lookup());
            Field field = LIB_CLASS.getDeclaredField("LIB");
            field.setAccessible(true);
            LIB = field.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExceptionInInitializerError("DJL's PyTorch JNI library is not where this build expects it: "
                    + e);
        }
    }

    private Jni() {
    }

    /** The native method {@code name} bound to the library, e.g. {@code bind("torchAdd", long.class, long.class,
     * long.class)} for {@code long torchAdd(long, long)}. */
    static MethodHandle bind(String name, Class<?> returns, Class<?>... params) {
        try {
            return LOOKUP.findVirtual(LIB_CLASS, name, MethodType.methodType(returns, params)).bindTo(LIB);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError("DJL's PyTorch JNI has no " + name + " of the expected type: "
                    + e);
        }
    }

    /** A throwable from a method handle as an unchecked exception (errors are rethrown as they are). */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            return e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}

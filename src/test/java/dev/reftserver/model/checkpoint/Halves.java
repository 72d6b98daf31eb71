package dev.reftserver.model.checkpoint;

/** Test files stored as F16: float32 to binary16 bits. */
public final class Halves {

    private Halves() {
    }

    /**
     * float32 to binary16, mantissa truncated, too small to zero, too large to the largest finite half: any half bits
     * do where a test compares with what the Java reader reads back.
     */
    public static short truncated(float f) {
        int bits = Float.floatToIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        if (exp <= 0) {
            return (short) sign;
        }
        if (exp >= 31) {
            return (short) (sign | 0x7bff);
        }
        return (short) (sign | (exp << 10) | ((bits >>> 13) & 0x3ff));
    }
}

package dev.reftserver.intervention;

/**
 * The 16-bit float formats: widening to fp32, bit-exact, and rounding fp32 to them (nearest even), as torch's
 * {@code .to(dtype)} does (Java 17 has no {@code Float.float16ToFloat}).
 */
final class TorchDtypes {

    private TorchDtypes() {
    }

    /** bfloat16 is the top half of an fp32. */
    static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** IEEE 754 binary16 to binary32, subnormals, infinities and NaN included (the checkpoint reader's). */
    static float halfToFloat(short bits) {
        return dev.reftserver.model.checkpoint.Safetensors.halfToFloat(bits);
    }

    /** fp32 to IEEE 754 binary16, round to nearest even, subnormals, infinities and NaN included. */
    static short floatToHalf(float f) {
        int x = Float.floatToIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int biased = (x >>> 23) & 0xFF;
        int mant = x & 0x7FFFFF;
        if (biased == 0xFF) {
            return (short) (sign | 0x7C00 | (mant != 0 ? 0x200 : 0));
        }
        int exp = biased - 127 + 15;
        if (exp >= 0x1F) {
            return (short) (sign | 0x7C00);
        }
        if (exp <= 0) {
            if (exp < -10) {
                return (short) sign;
            }
            mant |= 0x800000;
            int shift = 14 - exp;
            int half = mant >>> shift;
            int rem = mant & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = sign | (exp << 10) | (mant >>> 13);
        int rem = mant & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
            half++;
        }
        return (short) half;
    }

    /** fp32 to bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
    static short floatToBfloat16(float f) {
        int x = Float.floatToIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((x >>> 16) | 0x40);
        }
        return (short) ((x + 0x7FFF + ((x >>> 16) & 1)) >>> 16);
    }
}

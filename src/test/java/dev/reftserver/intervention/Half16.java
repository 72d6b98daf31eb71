package dev.reftserver.intervention;

/** fp32 to fp16 / bf16 rounding (nearest even), to write test fixtures in those dtypes. */
final class Half16 {

    private Half16() {
    }

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

    static short floatToBfloat16(float f) {
        int x = Float.floatToIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((x >>> 16) | 0x40);
        }
        return (short) ((x + 0x7FFF + ((x >>> 16) & 1)) >>> 16);
    }

    static float roundTripHalf(float f) {
        return TorchDtypes.halfToFloat(floatToHalf(f));
    }

    static float roundTripBfloat16(float f) {
        return TorchDtypes.bfloat16ToFloat(floatToBfloat16(f));
    }
}

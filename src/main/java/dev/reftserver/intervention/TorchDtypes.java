package dev.reftserver.intervention;

/** Widening of the 16-bit float formats to fp32, bit-exact (Java 17 has no {@code Float.float16ToFloat}). */
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
}

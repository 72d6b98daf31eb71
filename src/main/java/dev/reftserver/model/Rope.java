package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * Rotary position embedding's frequencies, as HF's {@code ROPE_INIT_FUNCTIONS} and rotary modules compute them for
 * the rope types this runtime supports.
 *
 * @param type                 how the default frequencies are rescaled for long contexts
 * @param theta                the base ({@code rope_theta})
 * @param factor               the scaling factor (linear, dynamic, llama3, yarn, longrope); 1 for default
 * @param originalMaxPositions the pre-training context (llama3, yarn, longrope); for dynamic,
 *                             {@code max_position_embeddings}, past which the base grows (HF's formula and
 *                             threshold both use it)
 * @param lowFreqFactor        llama3's {@code low_freq_factor}
 * @param highFreqFactor       llama3's {@code high_freq_factor}
 * @param betaFast             yarn's {@code beta_fast}
 * @param betaSlow             yarn's {@code beta_slow}
 * @param truncate             yarn's {@code truncate}: the correction range is rounded out to whole dimensions
 * @param shortFactor          longrope's per-frequency divisors for sequences up to the original context
 * @param longFactor           longrope's divisors for longer sequences
 * @param attentionFactor      what cos and sin are multiplied by (yarn, longrope); 1 for the others
 * @param partialRotary        the fraction of each head that rotates (Phi-3's {@code partial_rotary_factor}); the
 *                             other channels pass through unchanged
 * @param rebuildOnSwitch      longrope as Phi-3's generate runs it: when a sequence that started within the original
 *                             context grows past it, its whole cache is computed again with the long factors
 *                             (transformers' Phi3ForCausalLM drops the cache at that step); otherwise the cached
 *                             positions keep the short factors and only new ones take the long
 */
public record Rope(Type type, double theta, double factor, int originalMaxPositions, double lowFreqFactor,
        double highFreqFactor, double betaFast, double betaSlow, boolean truncate, List<Double> shortFactor,
        List<Double> longFactor, double attentionFactor, double partialRotary, boolean rebuildOnSwitch) {

    /** The rope types this runtime implements ({@code rope_type} in config.json). */
    public enum Type {
        DEFAULT("default"),
        LINEAR("linear"),
        DYNAMIC("dynamic"),
        LLAMA3("llama3"),
        YARN("yarn"),
        LONGROPE("longrope");

        private final String configName;

        Type(String configName) {
            this.configName = configName;
        }

        public String configName() {
            return configName;
        }
    }

    public Rope {
        shortFactor = List.copyOf(shortFactor);
        longFactor = List.copyOf(longFactor);
    }

    public static Rope plain(double theta) {
        return new Rope(Type.DEFAULT, theta, 1, 0, 0, 0, 0, 0, false, List.of(), List.of(), 1, 1, false);
    }

    /** Linear (position interpolation) or dynamic NTK scaling by {@code factor}. */
    public static Rope scaled(Type type, double theta, double factor, int maxPositions) {
        return new Rope(type, theta, factor, maxPositions, 0, 0, 0, 0, false, List.of(), List.of(), 1, 1, false);
    }

    public static Rope llama3(double theta, double factor, double lowFreqFactor, double highFreqFactor,
            int originalMaxPositions) {
        return new Rope(Type.LLAMA3, theta, factor, originalMaxPositions, lowFreqFactor, highFreqFactor, 0, 0, false,
                List.of(), List.of(), 1, 1, false);
    }

    public static Rope yarn(double theta, double factor, int originalMaxPositions, double betaFast, double betaSlow,
            boolean truncate, double attentionFactor) {
        return new Rope(Type.YARN, theta, factor, originalMaxPositions, 0, 0, betaFast, betaSlow, truncate, List.of(),
                List.of(), attentionFactor, 1, false);
    }

    public static Rope longRope(double theta, int originalMaxPositions, List<Double> shortFactor,
            List<Double> longFactor, double attentionFactor) {
        return new Rope(Type.LONGROPE, theta, 1, originalMaxPositions, 0, 0, 0, 0, false, shortFactor, longFactor,
                attentionFactor, 1, false);
    }

    /** This RoPE over the first {@code fraction} of each head only. */
    public Rope withPartialRotary(double fraction) {
        return new Rope(type, theta, factor, originalMaxPositions, lowFreqFactor, highFreqFactor, betaFast, betaSlow,
                truncate, shortFactor, longFactor, attentionFactor, fraction, rebuildOnSwitch);
    }

    /** This longrope with the cache of a sequence rebuilt when it grows past the original context (Phi-3). */
    public Rope withRebuildOnSwitch() {
        return new Rope(type, theta, factor, originalMaxPositions, lowFreqFactor, highFreqFactor, betaFast, betaSlow,
                truncate, shortFactor, longFactor, attentionFactor, partialRotary, type == Type.LONGROPE);
    }

    /** The channels of a head of {@code headDim} that rotate: HF's {@code int(head_dim * partial_rotary_factor)}. */
    public int rotaryDim(int headDim) {
        return (int) (headDim * partialRotary);
    }

    /**
     * Whether a sequence of {@code seqLen} positions uses longrope's long factors: HF switches per forward on its
     * largest position + 1, so a prompt longer than the original context is rotated with the long factors
     * throughout, and a shorter one with the short factors, its later tokens with the long ones once they pass it.
     */
    public boolean longFactors(int seqLen) {
        return type == Type.LONGROPE && seqLen > originalMaxPositions;
    }

    /**
     * Inverse frequencies for {@code dim} rotating channels, in float32 as HF computes them, for a forward whose
     * longest sequence is {@code seqLen} positions (only the dynamic and longrope types read it).
     */
    public float[] inverseFrequencies(int dim, int seqLen) {
        int half = dim / 2;
        float[] inv = new float[half];
        switch (type) {
            case YARN -> {
                return yarn(dim);
            }
            case LONGROPE -> {
                List<Double> ext = longFactors(seqLen) ? longFactor : shortFactor;
                for (int i = 0; i < half; i++) {
                    inv[i] = 1f / (ext.get(i).floatValue() * power(theta, i, dim));
                }
                return inv;
            }
            default -> {
            }
        }
        double base = theta;
        if (type == Type.DYNAMIC && seqLen > originalMaxPositions) {
            // HF _compute_dynamic_ntk_parameters: the base grows with the sequence past the trained context.
            base = theta * Math.pow(factor * seqLen / originalMaxPositions - (factor - 1), dim / (dim - 2.0));
        }
        for (int i = 0; i < half; i++) {
            inv[i] = 1f / power(base, i, dim);
        }
        switch (type) {
            case LINEAR -> {
                for (int i = 0; i < half; i++) {
                    inv[i] = inv[i] / (float) factor;
                }
            }
            case LLAMA3 -> llama3(inv);
            default -> {
            }
        }
        return inv;
    }

    /**
     * base ** (2i / dim) with the exponent in float32, as HF's {@code base ** (arange(0, dim, 2).float() / dim)}:
     * with the exponent in double instead, and 1 / x in double, about a third of the frequencies of real configs
     * (18 of Llama 3's 64) were a float32 step away from HF's (cos and sin 1.5e-5 apart at position 4,096 in the
     * Qwen3 reference config).
     */
    private static float power(double base, int i, int dim) {
        return (float) Math.pow(base, (float) (2 * i) / dim);
    }

    /**
     * HF _compute_llama3_parameters: wavelengths shorter than orig/high_freq_factor stay, those longer than
     * orig/low_freq_factor are divided by the factor, and those between are interpolated.
     */
    private void llama3(float[] inv) {
        float f = (float) factor;
        float orig = originalMaxPositions;
        float lowWavelen = orig / (float) lowFreqFactor;
        float highWavelen = orig / (float) highFreqFactor;
        for (int i = 0; i < inv.length; i++) {
            float wavelen = (float) (2 * Math.PI) / inv[i];
            float scaled = wavelen > lowWavelen ? inv[i] / f : inv[i];
            if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                float s = (orig / wavelen - (float) lowFreqFactor) / (float) (highFreqFactor - lowFreqFactor);
                scaled = (1 - s) * scaled / f + s * scaled;
            }
            inv[i] = scaled;
        }
    }

    /**
     * HF _compute_yarn_parameters: frequencies that turn more than beta_fast times over the original context keep
     * their value, those that turn fewer than beta_slow times are divided by the factor, and a linear ramp over
     * the dimensions between blends the two.
     */
    private float[] yarn(int dim) {
        int half = dim / 2;
        double low = correctionDim(betaFast, dim);
        double high = correctionDim(betaSlow, dim);
        if (truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low == high) {
            high += 0.001;
        }
        float lowF = (float) low;
        float span = (float) (high - low);
        float f = (float) factor;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float pos = power(theta, i, dim);
            float extrapolation = 1f / pos;
            float interpolation = 1f / (f * pos);
            float ramp = Math.min(Math.max(((float) i - lowF) / span, 0f), 1f);
            float keep = 1f - ramp;
            inv[i] = interpolation * (1f - keep) + extrapolation * keep;
        }
        return inv;
    }

    /** The dimension whose frequency turns {@code rotations} times over the original context. */
    private double correctionDim(double rotations, int dim) {
        return (dim * Math.log(originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
    }

    /**
     * HF's emb = [freqs, freqs] of positions [0, positions) over the rotating channels, times the attention factor,
     * as rows of {@code headDim}: cos or sin; the channels past the rotating ones pass through (cos 1, sin 0). As a
     * new float32 array of {@code m}, computed by libtorch as HF computes it: float32 products of position and
     * frequency, libtorch's vectorised float32 cos and sin (so the table is HF's bit for bit, where a correctly
     * rounded cos differs from it in the last bit of about 4% of the values; and 15 times faster than Java's
     * Math.cos), times the factor as a float32 product.
     */
    public NDArray table(NDManager m, float[] invFreq, int positions, int headDim, boolean cos) {
        int half = invFreq.length;
        NDArray angles = m.arange(0f, (float) positions, 1f, DataType.FLOAT32).reshape(positions, 1)
                .mul(m.create(invFreq).reshape(1, half));
        NDArray v = cos ? angles.cos() : angles.sin();
        if (attentionFactor != 1) {
            v = v.mul((float) attentionFactor);
        }
        NDList parts = new NDList(v, v);
        if (2 * half < headDim) {
            Shape rest = new Shape(positions, headDim - 2 * half);
            parts.add(cos ? m.ones(rest, DataType.FLOAT32) : m.zeros(rest, DataType.FLOAT32));
        }
        return NDArrays.concat(parts, 1);
    }
}

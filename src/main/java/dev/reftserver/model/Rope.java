package dev.reftserver.model;

/**
 * Rotary position embedding's frequencies, as HF's {@code ROPE_INIT_FUNCTIONS} compute them for the rope types this
 * runtime supports.
 *
 * @param type                 how the default frequencies are rescaled for long contexts
 * @param theta                the base ({@code rope_theta})
 * @param factor               the scaling factor (linear, dynamic, llama3); 1 for default
 * @param lowFreqFactor        llama3's {@code low_freq_factor}
 * @param highFreqFactor       llama3's {@code high_freq_factor}
 * @param originalMaxPositions llama3's pre-training context; for dynamic, {@code max_position_embeddings}, past which
 *                             the base grows (HF's formula and threshold both use it)
 */
public record Rope(Type type, double theta, double factor, double lowFreqFactor, double highFreqFactor,
        int originalMaxPositions) {

    /** The rope types this runtime implements ({@code rope_type} in config.json). */
    public enum Type {
        DEFAULT("default"),
        LINEAR("linear"),
        DYNAMIC("dynamic"),
        LLAMA3("llama3");

        private final String configName;

        Type(String configName) {
            this.configName = configName;
        }

        public String configName() {
            return configName;
        }
    }

    public static Rope plain(double theta) {
        return new Rope(Type.DEFAULT, theta, 1, 0, 0, 0);
    }

    /**
     * Inverse frequencies for head width {@code dim}, in float32 as HF computes them, for a forward whose longest
     * sequence is {@code seqLen} positions (only the dynamic type reads it).
     */
    public float[] inverseFrequencies(int dim, int seqLen) {
        double base = theta;
        if (type == Type.DYNAMIC && seqLen > originalMaxPositions) {
            // HF _compute_dynamic_ntk_parameters: the base grows with the sequence past the trained context.
            base = theta * Math.pow(factor * seqLen / originalMaxPositions - (factor - 1), dim / (dim - 2.0));
        }
        int half = dim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            inv[i] = (float) (1.0 / Math.pow(base, (2.0 * i) / dim));
        }
        switch (type) {
            case LINEAR -> {
                for (int i = 0; i < half; i++) {
                    inv[i] = (float) (inv[i] / factor);
                }
            }
            case LLAMA3 -> llama3(inv);
            default -> {
            }
        }
        return inv;
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

    /** emb = [freqs, freqs] (HF's rotate-half layout) of positions [0, positions): cos or sin rows of head_dim. */
    public static float[] table(float[] invFreq, int positions, boolean cos) {
        int half = invFreq.length;
        int hd = 2 * half;
        float[] out = new float[positions * hd];
        for (int pos = 0; pos < positions; pos++) {
            for (int i = 0; i < half; i++) {
                float angle = pos * invFreq[i];  // fp32 product, as HF computes freqs in float32
                float v = (float) (cos ? Math.cos(angle) : Math.sin(angle));
                out[pos * hd + i] = v;
                out[pos * hd + i + half] = v;
            }
        }
        return out;
    }
}

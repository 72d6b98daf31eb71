package dev.reftserver.engine;

import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;

/**
 * One row's {@link Penalties} with the token history they need, applied to a host copy of the row's logits just
 * before its sampler picks. Order: logit bias, then the repetition penalty (Hugging Face's processor on the biased
 * logits), then presence and frequency (OpenAI's formula
 * {@code logit - count * frequency - (count > 0) * presence} over generated tokens only), then the sampler's
 * temperature. Engine thread only.
 */
final class LogitsProcessor {

    private final Penalties penalties;
    /** Prompt and generated tokens, each once: what the repetition penalty touches. */
    private final BitSet seen = new BitSet();
    /** Generated tokens and how often each came: what presence and frequency penalties count. */
    private final Map<Integer, Integer> generated = new HashMap<>();

    LogitsProcessor(Penalties penalties, int[] prompt) {
        this.penalties = penalties;
        if (penalties.repetition() != 1) {
            for (int id : prompt) {
                seen.set(id);
            }
        }
    }

    boolean isNone() {
        return penalties.isNone();
    }

    /** Edits {@code logits} (one row, the whole vocabulary) in place. */
    void apply(float[] logits) {
        for (Map.Entry<Integer, Float> e : penalties.logitBias().entrySet()) {
            logits[e.getKey()] += e.getValue();
        }
        // In fp32, as Hugging Face's processor computes it.
        float rf = (float) penalties.repetition();
        if (rf != 1f) {
            for (int id = seen.nextSetBit(0); id >= 0; id = seen.nextSetBit(id + 1)) {
                float x = logits[id];
                logits[id] = x < 0 ? x * rf : x / rf;
            }
        }
        if (penalties.presence() != 0 || penalties.frequency() != 0) {
            for (Map.Entry<Integer, Integer> e : generated.entrySet()) {
                int id = e.getKey();
                logits[id] = (float) (logits[id] - e.getValue() * penalties.frequency() - penalties.presence());
            }
        }
    }

    /** Records a generated token. */
    void accept(int token) {
        if (penalties.isNone()) {
            return;
        }
        if (penalties.repetition() != 1) {
            seen.set(token);
        }
        generated.merge(token, 1, Integer::sum);
    }
}

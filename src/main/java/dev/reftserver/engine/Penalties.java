package dev.reftserver.engine;

import java.util.Map;

/**
 * How one row's logits are edited before sampling (greedy included). Log-probabilities are reported from the
 * logits before these edits.
 *
 * @param presence   OpenAI {@code presence_penalty}: subtracted once from every token generated so far
 * @param frequency  OpenAI {@code frequency_penalty}: subtracted once per earlier occurrence in the generated text
 * @param repetition Hugging Face {@code repetition_penalty} (1 = off): every token of the prompt or the generated
 *                   text has a positive logit divided by it and a negative one multiplied by it
 * @param logitBias  OpenAI {@code logit_bias}: token id to a value added to its logit (-100 in effect bans it)
 */
public record Penalties(double presence, double frequency, double repetition, Map<Integer, Float> logitBias) {

    public static final Penalties NONE = new Penalties(0, 0, 1, Map.of());

    public Penalties {
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
    }

    public boolean isNone() {
        return presence == 0 && frequency == 0 && repetition == 1 && logitBias.isEmpty();
    }
}

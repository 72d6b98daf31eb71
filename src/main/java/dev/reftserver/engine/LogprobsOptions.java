package dev.reftserver.engine;

/**
 * The log-probabilities one row reports (see {@link TokenLogprobs}).
 *
 * @param top    alternatives per position, 0 to {@link TokenLogprobs#MAX_TOP}; -1 reports none at all
 * @param prompt also report every prompt token's own log-probability (OpenAI's echo), which makes the prefill
 *               compute logits at every prompt position of the row
 */
public record LogprobsOptions(int top, boolean prompt) {

    public static final LogprobsOptions NONE = new LogprobsOptions(-1, false);

    public LogprobsOptions {
        if (top < -1 || top > TokenLogprobs.MAX_TOP) {
            throw new IllegalArgumentException("top logprobs must be -1 to " + TokenLogprobs.MAX_TOP + ", got " + top);
        }
        if (prompt && top < 0) {
            throw new IllegalArgumentException("prompt logprobs need top >= 0");
        }
    }

    public boolean any() {
        return top >= 0;
    }
}

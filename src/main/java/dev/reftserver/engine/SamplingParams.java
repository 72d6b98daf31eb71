package dev.reftserver.engine;

import java.util.List;

/**
 * How one row picks its tokens and when it stops.
 *
 * @param maxTokens   tokens to generate at most
 * @param temperature 0 for greedy; otherwise logits are divided by it before sampling
 * @param topP        nucleus sampling mass in [0, 1]: the fewest most likely tokens whose probability reaches it
 *                    (at least one, so 0 keeps only the most likely); 1 disables it
 * @param topK        keep only the k most likely tokens; 0 disables it
 * @param seed        makes sampled output repeatable; null draws a random seed
 * @param stop        strings that end the generation (not included in the output)
 */
public record SamplingParams(int maxTokens, double temperature, double topP, int topK, Long seed, List<String> stop) {

    public SamplingParams {
        stop = stop == null ? List.of() : List.copyOf(stop);
    }

    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(maxTokens, 0.0, 1.0, 0, null, List.of());
    }

    public boolean isGreedy() {
        return temperature == 0.0 || topK == 1;
    }
}

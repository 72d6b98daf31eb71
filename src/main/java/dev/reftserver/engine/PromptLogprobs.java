package dev.reftserver.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.List;

/**
 * Echo's log-probabilities: from a prefill that returned logits at every position of some rows, computes each such
 * row's prompt-token entries (left on the row for the output processor to report, so no listener runs inside the
 * model's step) and keeps only each row's last position for sampling.
 */
final class PromptLogprobs {

    /** Positions copied to the host together. */
    private static final int HOST_BLOCK = 64;

    private PromptLogprobs() {
    }

    /**
     * @param logits     the prefill's logits: row i gives positions [logitsFrom[i], its length)
     * @param logitsFrom as passed to the prefill
     * @return each row's last-position logits, [n, vocab]
     */
    static NDArray take(NDManager step, NDArray logits, List<Generation> rows, int[] logitsFrom) {
        int n = rows.size();
        if (logits.getShape().get(0) == n) {
            return logits;
        }
        long[] last = new long[n];
        int offset = 0;
        for (int i = 0; i < n; i++) {
            Generation g = rows.get(i);
            int length = g.prompt().length;
            int positions = length - logitsFrom[i];
            if (g.logprobs().prompt()) {
                // Position t predicts token t + 1; nothing predicts token 0.
                TokenLogprobs[] out = new TokenLogprobs[length];
                int vocab = (int) logits.getShape().get(1);
                // Copied to the host a block of positions at a time, so a long prompt never needs its whole
                // [length, vocab] logits on the host at once.
                for (int from = 0; from + 1 < length; from += HOST_BLOCK) {
                    int to = Math.min(from + HOST_BLOCK, length - 1);
                    float[] block = logits.get(new NDIndex("{}:{}", offset + from, offset + to)).toFloatArray();
                    for (int t = from; t < to; t++) {
                        out[t + 1] = TokenLogprobs.of(block, (t - from) * vocab, vocab, g.prompt()[t + 1],
                                g.logprobs().top());
                    }
                }
                g.pendingPromptLogprobs = out;
            }
            offset += positions;
            last[i] = offset - 1;
        }
        return logits.get(new NDIndex("{}", step.create(last)));
    }
}

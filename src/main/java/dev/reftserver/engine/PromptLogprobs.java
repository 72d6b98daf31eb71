package dev.reftserver.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import dev.reftserver.model.PositionLogits;
import java.util.List;

/**
 * Echo's log-probabilities: takes a prefill's logits at every prompt position of the rows that report them, a block
 * of positions at a time as the model makes them ({@link PositionLogits}), and leaves each such row's prompt-token
 * entries on the row for the output processor to report (so no listener runs inside the model's step). Only the
 * entries stay: a long prompt never has its whole [length, vocab] logits on the device or the host.
 */
final class PromptLogprobs implements PositionLogits {

    private final List<Generation> rows;

    /** @param rows the prefill's rows, in its order; each that reports its prompt's log-probabilities gets them */
    PromptLogprobs(List<Generation> rows) {
        this.rows = rows;
        for (Generation g : rows) {
            if (g.logprobs().prompt()) {
                g.pendingPromptLogprobs = new TokenLogprobs[g.prompt().length];
            }
        }
    }

    @Override
    public void accept(int row, int from, NDArray logits) {
        Generation g = rows.get(row);
        if (!g.logprobs().prompt()) {
            return;
        }
        // Position t predicts token t + 1; nothing predicts token 0, and the last position no prompt token.
        int[] prompt = g.prompt();
        int count = (int) logits.getShape().get(0);
        int vocab = (int) logits.getShape().get(1);
        int to = Math.min(from + count, prompt.length - 1);
        if (to <= from) {
            return;
        }
        float[] block = (to - from == count ? logits : logits.get(new NDIndex("0:{}", to - from))).toFloatArray();
        for (int t = from; t < to; t++) {
            g.pendingPromptLogprobs[t + 1] = TokenLogprobs.of(block, (t - from) * vocab, vocab, prompt[t + 1],
                    g.logprobs().top());
        }
    }
}

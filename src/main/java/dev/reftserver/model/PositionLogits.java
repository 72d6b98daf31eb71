package dev.reftserver.model;

import ai.djl.ndarray.NDArray;

/**
 * Receives a prefill's logits at the prompt positions a caller asked for (log-probabilities of the prompt's own
 * tokens), a block of positions at a time, so that a long prompt never has its whole [length, vocab] logits at once.
 */
@FunctionalInterface
public interface PositionLogits {

    /** Takes nothing: the caller needs each row's last position only. */
    PositionLogits NONE = (row, from, logits) -> { };

    /**
     * @param row    the prefill's row
     * @param from   the prompt position of the block's first entry
     * @param logits [count, vocab] float32 at positions [from, from + count); valid during the call only
     */
    void accept(int row, int from, NDArray logits);
}

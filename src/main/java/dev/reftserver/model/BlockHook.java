package dev.reftserver.model;

import ai.djl.ndarray.NDArray;

/**
 * Called after each transformer block during prefill with the residual stream ("block_output": the output of
 * block {@code layer}, 0-based, before the final norm). The model knows nothing of what a hook does; ReFT
 * interventions are one implementation.
 */
@FunctionalInterface
public interface BlockHook {

    /** A hook that leaves every block's output alone. */
    BlockHook NONE = (layer, hidden) -> hidden;

    /**
     * @param layer  0-based index of the block that produced {@code hidden}
     * @param hidden [batch, tokens, hidden_size] in the model's compute dtype, right-padded rows; the hook owns it
     *               (the model keeps no other reference), so it may edit chosen (row, position) entries in place
     * @return the hidden states the next block sees: {@code hidden} itself, edited or not, or a new array of the
     *     same shape
     */
    NDArray afterBlock(int layer, NDArray hidden);

    /** Whether this hook wants to see block {@code layer}; lets the model skip calls it need not make. */
    default boolean touches(int layer) {
        return true;
    }
}

package dev.reftserver.model;

import ai.djl.ndarray.NDArray;

/**
 * Called after each transformer block during prefill with the residual stream ("block_output": the output of
 * block {@code layer}, 0-based, before the final norm). The model knows nothing of what a hook does; ReFT
 * interventions are one implementation.
 */
@FunctionalInterface
public interface BlockHook {

    /** A hook that leaves every block's output alone and asks to see none. */
    BlockHook NONE = new BlockHook() {
        @Override
        public NDArray afterBlock(int layer, NDArray hidden) {
            return hidden;
        }

        @Override
        public boolean touches(int layer) {
            return false;
        }

        @Override
        public BlockHook pass(int[] rows, int start, int end) {
            return this;
        }
    };

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

    /**
     * This hook as one pass of a chunked prefill sees it: the pass's row r is row {@code rows[r]} of the prefill the
     * hook was made for, and its position t is that row's prompt position {@code start + t}, for positions in
     * [start, end). A hook whose edits are each one (row, position)'s own can be cut so: attention is causal, so the
     * passes together compute what one pass would. Null where the hook cannot be cut (the default): the prefill then
     * runs in one pass.
     */
    default BlockHook pass(int[] rows, int start, int end) {
        return null;
    }
}

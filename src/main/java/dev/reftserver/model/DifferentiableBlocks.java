package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * An architecture's forward as differentiable functions for training interventions through autograd
 * ({@link TrainingForward}): the same weights and math as {@link Architecture#block}, but plain NDArray ops on the
 * calling thread (autograd records per thread), no cache and no in-place edits. Rows start at position 0 and
 * attention is causal, so right padding never changes a real position.
 */
public interface DifferentiableBlocks {

    /** Token embeddings of ids [rows, tokens] (row-major) to [rows, tokens, d]. */
    NDArray embed(NDManager step, long[] ids, int rows, int tokens);

    /** Block {@code layer} of x [n, T, d]. */
    NDArray block(int layer, NDArray x);

    /** Final norm and output layer: x [m, d] to logits [m, vocab]. */
    NDArray head(NDArray x);
}

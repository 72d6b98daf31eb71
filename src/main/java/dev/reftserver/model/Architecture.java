package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The math of one block layout (Llama family, GPT-2). {@link TransformerLM} owns the forward loop, the cache and
 * the hook; an architecture owns its weights and what one block computes.
 */
public interface Architecture extends AutoCloseable {

    ModelConfig config();

    /**
     * Token (and, where the model has them, position) embeddings of ids [n, T] (row-major, n and T as in the
     * batch) to [n, T, d].
     */
    NDArray embed(long[] ids, StepBatch batch);

    /**
     * Into how many parts attention is split by key/value heads (the parts run side by side on a
     * {@link dev.reftserver.model.ops.CpuTeam}); the cache holds one array per part and layer.
     */
    default int attentionParts() {
        return 1;
    }

    /**
     * One transformer block: the residual stream after block {@code layer}, writing the step's keys and values of
     * that layer into {@code cache} ({@link Attention}).
     */
    NDArray block(int layer, NDArray x, StepBatch batch, KvCache cache);

    /** Final norm and output layer: [m, d] to logits [m, vocab]. */
    NDArray head(NDArray x);

    /** Why this model has no differentiable forward ({@link #trainingBlock}), or null where it has one. */
    default String untrainable() {
        return config().architecture() + " has no differentiable forward yet";
    }

    /**
     * Token embeddings of ids [rows, tokens] (row-major) to [rows, tokens, d] for a differentiable forward (see
     * {@link #trainingBlock}).
     */
    default NDArray trainingEmbed(NDManager step, long[] ids, int rows, int tokens) {
        throw new UnsupportedOperationException(config().architecture() + " has no differentiable forward yet");
    }

    /**
     * Block {@code layer} as a differentiable function of x [n, T, d] for training interventions through autograd:
     * the same weights and math as {@link #block}, but plain NDArray ops on the calling thread (autograd records per
     * thread), no cache and no in-place edits. Rows start at position 0 and attention is causal, so right padding
     * never changes a real position.
     */
    default NDArray trainingBlock(int layer, NDArray x) {
        throw new UnsupportedOperationException(config().architecture() + " has no differentiable forward yet");
    }

    /** {@link #head} as a differentiable function of x [m, d]. */
    default NDArray trainingHead(NDArray x) {
        throw new UnsupportedOperationException(config().architecture() + " has no differentiable forward yet");
    }

    @Override
    void close();
}

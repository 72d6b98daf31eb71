package dev.reftserver.model;

import ai.djl.ndarray.NDArray;

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

    /** This architecture's differentiable forward for training, or null where it has none. */
    default DifferentiableBlocks differentiable() {
        return null;
    }

    @Override
    void close();
}

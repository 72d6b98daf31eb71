package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

/**
 * A model's differentiable forward for training ({@link TransformerLM#training()}): every op on the calling thread,
 * through {@link Architecture#differentiable}, on the model's own weights.
 */
public final class TrainingForward {

    private final Architecture arch;
    private final ModelConfig config;

    TrainingForward(Architecture arch, ModelConfig config) {
        this.arch = arch;
        this.config = config;
    }

    /**
     * Why this model cannot be trained (it has no differentiable forward), or null where it can: a
     * training request is refused up front rather than failing once it runs.
     */
    public String untrainable() {
        return arch.differentiable() == null ? config.architecture() + " has no differentiable forward" : null;
    }

    private DifferentiableBlocks blocks() {
        DifferentiableBlocks blocks = arch.differentiable();
        if (blocks == null) {
            throw new UnsupportedOperationException(untrainable());
        }
        return blocks;
    }

    /**
     * A differentiable forward for training: the rows (BOS included, right-padded to the longest), {@code hook}
     * after each block it touches, and logits at the given flat positions ({@code row * T + t}, T the longest row).
     * Runs every op on the calling thread through {@link Architecture#differentiable}, so a {@code GradientCollector}
     * open on that thread sees the whole graph; the weights are the model's own arrays and receive no gradient.
     *
     * @return logits [positions.length, vocab], fp32
     */
    public NDArray logits(NDManager step, int[][] rows, BlockHook hook, long[] positions) {
        return logits(step, hidden(step, rows, 0), 0, hook, positions);
    }

    /**
     * The residual stream of the right-padded rows after the first {@code count} blocks, with no hook: [n, T, d].
     * With 0 blocks, the embeddings. Training keeps the frozen part before its first intervened layer this way.
     */
    public NDArray hidden(NDManager step, int[][] rows, int count) {
        int n = rows.length;
        int tokens = 0;
        for (int[] row : rows) {
            tokens = Math.max(tokens, row.length);
        }
        if (tokens > config.maxPositions()) {
            throw new IllegalArgumentException("row of " + tokens + " tokens exceeds the model's context of "
                    + config.maxPositions());
        }
        long[] ids = new long[n * tokens];
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < rows[i].length; t++) {
                ids[i * tokens + t] = rows[i][t];
            }
        }
        DifferentiableBlocks blocks = blocks();
        NDArray x = blocks.embed(step, ids, n, tokens);
        for (int l = 0; l < count; l++) {
            x = blocks.block(l, x);
        }
        return x;
    }

    /**
     * Continues a differentiable forward from the residual stream x [n, T, d] after the first {@code fromBlock}
     * blocks: the remaining blocks with {@code hook}, then logits at the flat positions.
     */
    public NDArray logits(NDManager step, NDArray x, int fromBlock, BlockHook hook, long[] positions) {
        long n = x.getShape().get(0);
        long tokens = x.getShape().get(1);
        DifferentiableBlocks blocks = blocks();
        for (int l = fromBlock; l < config.numLayers(); l++) {
            x = blocks.block(l, x);
            if (hook.touches(l)) {
                x = hook.afterBlock(l, x);
            }
        }
        NDArray picked = x.reshape(n * tokens, config.hiddenSize()).get(new NDIndex("{}", step.create(positions)));
        return blocks.head(picked).toType(DataType.FLOAT32, false);
    }
}

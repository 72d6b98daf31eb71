package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

/**
 * The forward loop shared by every architecture: embed, run the blocks (calling the hook after each one during
 * prefill), then the head at the positions that need logits. Decode runs the plain model: hooks never see
 * generated tokens.
 */
public final class TransformerLM implements CausalLM {

    private final NDManager manager;
    private final Architecture arch;
    private final ModelConfig config;
    private final DataType dtype;
    private final CpuTeam team;

    TransformerLM(NDManager manager, Architecture arch, DataType dtype, CpuTeam team) {
        this.manager = manager;
        this.arch = arch;
        this.config = arch.config();
        this.dtype = dtype;
        this.team = team;
    }

    /** Threads one forward step runs on (1 on a GPU, where the parallelism is inside the kernels). */
    public int threads() {
        return team.size();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Device device() {
        return manager.getDevice();
    }

    public DataType dtype() {
        return dtype;
    }

    @Override
    public KvCache newCache(int rows, int maxTokens) {
        if (maxTokens > config.maxPositions()) {
            throw new IllegalArgumentException("cache of " + maxTokens + " tokens exceeds the model's context of "
                    + config.maxPositions());
        }
        return new KvCache(manager, config, arch.attentionParts(), rows, maxTokens, dtype);
    }

    @Override
    public NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] logitsFrom) {
        int n = prompts.length;
        int[] lengths = new int[n];
        int tokens = 0;
        for (int i = 0; i < n; i++) {
            lengths[i] = prompts[i].length;
            if (lengths[i] == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty (it needs at least BOS)");
            }
            tokens = Math.max(tokens, lengths[i]);
        }
        if (tokens > cache.maxTokens()) {
            throw new IllegalArgumentException("prompt of " + tokens + " tokens exceeds the cache's "
                    + cache.maxTokens());
        }
        long[] ids = new long[n * tokens];
        int wanted = 0;
        for (int i = 0; i < n; i++) {
            if (logitsFrom[i] < 0 || logitsFrom[i] >= lengths[i]) {
                throw new IllegalArgumentException("logits from position " + logitsFrom[i] + " of a "
                        + lengths[i] + "-token prompt");
            }
            wanted += lengths[i] - logitsFrom[i];
        }
        long[] last = new long[wanted];
        int k = 0;
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < lengths[i]; t++) {
                ids[i * tokens + t] = prompts[i][t];
            }
            for (int t = logitsFrom[i]; t < lengths[i]; t++) {
                last[k++] = (long) i * tokens + t;
            }
        }
        team.wake();
        AttentionContext ctx = AttentionContext.prefill(step, config.block(), cache, slots, lengths, tokens, dtype);
        NDArray x = arch.embed(ids, ctx);
        for (int l = 0; l < config.numLayers(); l++) {
            x = arch.block(l, x, ctx);
            if (hook.touches(l)) {
                x = hook.afterBlock(l, x);
            }
        }
        for (int i = 0; i < n; i++) {
            cache.setLength(slots[i], lengths[i]);
        }
        NDArray lastHidden = x.reshape((long) n * tokens, config.hiddenSize())
                .get(new NDIndex("{}", step.create(last)));
        return arch.head(lastHidden, ctx).toType(DataType.FLOAT32, false);
    }

    @Override
    public NDArray decode(NDManager step, int[] tokens, KvCache cache) {
        int n = tokens.length;
        for (int i = 0; i < n; i++) {
            if (cache.length(i) == 0) {
                throw new IllegalStateException("slot " + i + " was never prefilled");
            }
            if (cache.length(i) >= cache.maxTokens()) {
                throw new IllegalStateException("slot " + i + " is full (" + cache.maxTokens() + " tokens)");
            }
        }
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = tokens[i];
        }
        team.wake();
        AttentionContext ctx = AttentionContext.decode(step, config.block(), cache, n, dtype);
        NDArray x = arch.embed(ids, ctx);
        for (int l = 0; l < config.numLayers(); l++) {
            x = arch.block(l, x, ctx);
        }
        for (int i = 0; i < n; i++) {
            cache.setLength(i, cache.length(i) + 1);
        }
        return arch.head(x.reshape(n, config.hiddenSize()), ctx).toType(DataType.FLOAT32, false);
    }

    @Override
    public NDArray logitsAllPositions(NDManager step, int[] prompt) {
        try (KvCache cache = newCache(1, prompt.length)) {
            AttentionContext ctx = AttentionContext.prefill(step, config.block(), cache, new int[] {0},
                    new int[] {prompt.length}, prompt.length, dtype);
            long[] ids = new long[prompt.length];
            for (int t = 0; t < prompt.length; t++) {
                ids[t] = prompt[t];
            }
            NDArray x = arch.embed(ids, ctx);
            for (int l = 0; l < config.numLayers(); l++) {
                x = arch.block(l, x, ctx);
            }
            return arch.head(x.reshape(prompt.length, config.hiddenSize()), ctx).toType(DataType.FLOAT32, false);
        }
    }

    /**
     * A differentiable forward for training: the rows (BOS included, right-padded to the longest), {@code hook}
     * after each block it touches, and logits at the given flat positions ({@code row * T + t}, T the longest row).
     * Runs every op on the calling thread through {@link Architecture#trainingBlock}, so a {@code GradientCollector}
     * open on that thread sees the whole graph; the weights are the model's own arrays and receive no gradient.
     *
     * @return logits [positions.length, vocab], fp32
     */
    public NDArray trainingLogits(NDManager step, int[][] rows, BlockHook hook, long[] positions) {
        return trainingLogits(step, trainingHidden(step, rows, 0), 0, hook, positions);
    }

    /**
     * The residual stream of the right-padded rows after the first {@code blocks} blocks, with no hook: [n, T, d].
     * With 0 blocks, the embeddings. Training keeps the frozen part before its first intervened layer this way.
     */
    public NDArray trainingHidden(NDManager step, int[][] rows, int blocks) {
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
        NDArray x = arch.trainingEmbed(step, ids, n, tokens);
        for (int l = 0; l < blocks; l++) {
            x = arch.trainingBlock(l, x);
        }
        return x;
    }

    /**
     * Continues a differentiable forward from the residual stream x [n, T, d] after the first {@code fromBlock}
     * blocks: the remaining blocks with {@code hook}, then logits at the flat positions.
     */
    public NDArray trainingLogits(NDManager step, NDArray x, int fromBlock, BlockHook hook, long[] positions) {
        long n = x.getShape().get(0);
        long tokens = x.getShape().get(1);
        for (int l = fromBlock; l < config.numLayers(); l++) {
            x = arch.trainingBlock(l, x);
            if (hook.touches(l)) {
                x = hook.afterBlock(l, x);
            }
        }
        NDArray picked = x.reshape(n * tokens, config.hiddenSize()).get(new NDIndex("{}", step.create(positions)));
        return arch.trainingHead(picked).toType(DataType.FLOAT32, false);
    }

    /** NDArrays alive under the model's manager: weights plus every cache it handed out (for leak checks). */
    public int liveArrays() {
        return manager.getManagedArrays().size();
    }

    @Override
    public void close() {
        arch.close();
        manager.close();
        team.close();
    }
}

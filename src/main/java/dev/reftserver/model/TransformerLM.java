package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ops.CpuTeam;
import java.util.Arrays;
import java.util.List;

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
    private final String weightDtype;
    private final CpuTeam team;
    private final TrainingForward training;
    /** The KV cache's dtype ({@link #useCacheDtype}); set before the engine makes its cache. */
    private volatile DataType cacheDtype;

    TransformerLM(NDManager manager, Architecture arch, DataType dtype, String weightDtype, CpuTeam team) {
        this.manager = manager;
        this.arch = arch;
        this.config = arch.config();
        this.dtype = dtype;
        this.weightDtype = weightDtype;
        this.team = team;
        this.training = new TrainingForward(arch, config);
        this.cacheDtype = CacheDtype.choose("auto", weightDtype, dtype);
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

    /** The dtype of activations (and of the KV cache, unless {@link CacheDtype} says otherwise). */
    public DataType dtype() {
        return dtype;
    }

    /** The dtype of the KV caches made from now on: {@code reft.model.kv-cache-dtype} ({@link CacheDtype}). */
    public TransformerLM useCacheDtype(String setting) {
        cacheDtype = CacheDtype.choose(setting, weightDtype, dtype);
        return this;
    }

    /** The dtype the projections are kept in: float32, float16 or bfloat16 (with float32 activations). */
    public String weightDtype() {
        return weightDtype;
    }

    @Override
    public int cacheElementBytes() {
        return cacheDtype.getNumOfBytes();
    }

    @Override
    public KvCache newCache(int rows, int maxTokens, long budgetTokens) {
        if (maxTokens > config.maxPositions()) {
            throw new IllegalArgumentException("cache of " + maxTokens + " tokens exceeds the model's context of "
                    + config.maxPositions());
        }
        return new KvCache(manager, config, arch.attentionParts(), rows, maxTokens, budgetTokens, cacheDtype);
    }

    /** Prompt positions one prefill pass takes at most: longer prompts run in chunks of this many. */
    public static final int PREFILL_CHUNK = 512;

    @Override
    public NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] logitsFrom) {
        return prefill(step, prompts, slots, cache, hook, logitsFrom, PREFILL_CHUNK);
    }

    @Override
    public NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] logitsFrom, PositionLogits sink) {
        return prefill(step, prompts, lengths(prompts), slots, cache, hook, logitsFrom, PREFILL_CHUNK, sink);
    }

    /** {@link #prefill(NDManager, int[][], int[], KvCache, BlockHook)} in passes of at most {@code chunk} positions. */
    NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook, int chunk) {
        int[] last = new int[prompts.length];
        for (int i = 0; i < prompts.length; i++) {
            last[i] = prompts[i].length - 1;
        }
        return prefill(step, prompts, slots, cache, hook, last, chunk);
    }

    /**
     * {@link #prefill(NDManager, int[][], int[], KvCache, BlockHook, int[])} in passes of at most {@code chunk}
     * positions per row ({@link Prefill}): each pass writes its keys and values into the cache and attends to the
     * row's cached positions, so masks and scores are chunk x prompt rather than prompt x prompt. The logits come
     * back as one pass would give them: row by row, positions {@code logitsFrom[i]} to the prompt's end.
     */
    NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook, int[] logitsFrom,
            int chunk) {
        NDList[] byRow = new NDList[prompts.length];
        Arrays.setAll(byRow, i -> new NDList());
        prefill(step, prompts, lengths(prompts), slots, cache, hook, logitsFrom, chunk, (row, from, logits) -> {
            NDArray kept = logits.duplicate();
            kept.attach(step);
            byRow[row].add(kept);
        });
        NDList all = new NDList();
        for (NDList row : byRow) {
            all.addAll(row);
        }
        return all.size() == 1 ? all.get(0) : NDArrays.concat(all, 0);
    }

    private static int[] lengths(int[][] prompts) {
        return Arrays.stream(prompts).mapToInt(p -> p.length).toArray();
    }

    @Override
    public int rebuildAt() {
        Rope rope = config.rope();
        return rope.rebuildOnSwitch() ? rope.originalMaxPositions() : -1;
    }

    @Override
    public void rebuild(NDManager step, int[] tokens, int slot, KvCache cache, BlockHook hook) {
        if (tokens.length == 0 || tokens.length >= cache.maxTokens()) {
            throw new IllegalArgumentException("cannot rebuild " + tokens.length + " tokens in a cache of "
                    + cache.maxTokens());
        }
        // Rotated as a sequence of one more position: the step that follows takes it past the original context.
        try (NDManager sub = step.newSubManager()) {
            prefill(sub, new int[][] {tokens}, new int[] {tokens.length + 1}, new int[] {slot}, cache, hook,
                    new int[] {tokens.length - 1}, PREFILL_CHUNK, PositionLogits.NONE);
        }
    }

    /**
     * The prefill, each row rotated as a sequence of {@code ropeLengths[i]} positions (its prompt's length but where
     * a rebuild asks for more): the logits from {@code logitsFrom[i]} on go to {@code sink}.
     *
     * @return each row's last position's logits, [n, vocab] float32
     */
    private NDArray prefill(NDManager step, int[][] prompts, int[] ropeLengths, int[] slots, KvCache cache,
            BlockHook hook, int[] logitsFrom, int chunk, PositionLogits sink) {
        return Prefill.run(passes, config.numLayers(), step, prompts, ropeLengths, slots, cache, hook, logitsFrom,
                chunk, sink);
    }

    @Override
    public int prefillPass() {
        return PREFILL_CHUNK;
    }

    @Override
    public NDArray prefillPart(NDManager step, int[] prompt, int start, int end, int slot, KvCache cache,
            BlockHook hook, int logitsFrom, PositionLogits sink) {
        return Prefill.part(passes, config.numLayers(), step, prompt, start, end, slot, cache, hook, logitsFrom, sink);
    }

    /** One prefill pass and the output layer, for {@link Prefill}. */
    private final Prefill.Passes passes = new Prefill.Passes() {
        @Override
        public NDArray hidden(NDManager step, PrefillPass pass, int[] ropeLengths, KvCache cache, BlockHook hook) {
            return passHidden(step, pass, ropeLengths, cache, hook);
        }

        @Override
        public NDArray head(NDArray hidden) {
            return arch.head(hidden).toType(DataType.FLOAT32, false);
        }
    };

    /**
     * One prefill pass: rows' tokens at positions [start, start + parts[r].length), rotated as sequences of
     * {@code whole[r]} positions, into their slots; the final hidden states at the pass's positions {@code from[r]}
     * and after (none for a row whose {@code from[r]} is its part's length), row by row.
     */
    private NDArray passHidden(NDManager step, PrefillPass pass, int[] whole, KvCache cache, BlockHook hook) {
        int[][] parts = pass.parts();
        int[] from = pass.from();
        int[] slots = pass.slots();
        int start = pass.start();
        int n = parts.length;
        int[] lengths = new int[n];
        int tokens = 0;
        for (int i = 0; i < n; i++) {
            lengths[i] = parts[i].length;
            tokens = Math.max(tokens, lengths[i]);
        }
        long[] ids = new long[n * tokens];
        int wanted = 0;
        for (int i = 0; i < n; i++) {
            wanted += lengths[i] - from[i];
        }
        long[] last = new long[wanted];
        int k = 0;
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < lengths[i]; t++) {
                ids[i * tokens + t] = parts[i][t];
            }
            for (int t = from[i]; t < lengths[i]; t++) {
                last[k++] = (long) i * tokens + t;
            }
        }
        team.wake();
        StepBatch batch = StepBatch.prefill(step, config.block(), cache, slots, lengths, whole, tokens, start,
                dtype);
        NDArray x = forward(ids, batch, cache, hook);
        for (int i = 0; i < n; i++) {
            cache.setLength(slots[i], start + lengths[i]);
        }
        return x.reshape((long) n * tokens, config.hiddenSize()).get(new NDIndex("{}", step.create(last)));
    }

    /** Embeddings, then every block (the hook after each one it touches): the residual stream [n, T, d]. */
    private NDArray forward(long[] ids, StepBatch batch, KvCache cache, BlockHook hook) {
        NDArray x = arch.embed(ids, batch);
        for (int l = 0; l < config.numLayers(); l++) {
            x = arch.block(l, x, batch, cache);
            if (hook.touches(l)) {
                x = hook.afterBlock(l, x);
            }
        }
        return x;
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
        int longest = 0;
        for (int i = 0; i < n; i++) {
            ids[i] = tokens[i];
            longest = Math.max(longest, cache.length(i) + 1);
        }
        cache.ensure(n, longest);
        team.wake();
        StepBatch batch = StepBatch.decode(step, config.block(), cache, n, dtype);
        NDArray x = forward(ids, batch, cache, BlockHook.NONE);
        for (int i = 0; i < n; i++) {
            cache.setLength(i, cache.length(i) + 1);
        }
        return arch.head(x.reshape(n, config.hiddenSize())).toType(DataType.FLOAT32, false);
    }

    @Override
    public NDArray logitsAllPositions(NDManager step, int[] prompt) {
        try (KvCache cache = newCache(1, prompt.length)) {
            cache.ensure(1, prompt.length);
            StepBatch batch = StepBatch.prefill(step, config.block(), cache, new int[] {0},
                    new int[] {prompt.length}, new int[] {prompt.length}, prompt.length, 0, dtype);
            long[] ids = new long[prompt.length];
            for (int t = 0; t < prompt.length; t++) {
                ids[t] = prompt[t];
            }
            NDArray x = forward(ids, batch, cache, BlockHook.NONE);
            return arch.head(x.reshape(prompt.length, config.hiddenSize())).toType(DataType.FLOAT32, false);
        }
    }

    /** The differentiable forward training runs on this model's weights. */
    public TrainingForward training() {
        return training;
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

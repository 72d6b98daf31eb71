package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ops.CpuTeam;
import java.util.Arrays;

/**
 * A causal LM of any {@link Architecture}: its caches, its prefill in passes ({@link Prefill}), its decode steps,
 * and both at once, each run by the forward loop shared by every architecture ({@link Forward}). Decode runs the
 * plain model: hooks never see generated tokens.
 */
public final class TransformerLM implements CausalLM {

    private final NDManager manager;
    private final Architecture arch;
    private final ModelConfig config;
    private final DataType dtype;
    private final String weightDtype;
    private final CpuTeam team;
    private final TrainingForward training;
    private final Forward forward;
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
        this.forward = new Forward(arch, dtype, team);
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
            return forward.passHidden(step, pass, ropeLengths, cache, hook);
        }

        @Override
        public NDArray head(NDArray hidden) {
            return arch.head(hidden).toType(DataType.FLOAT32, false);
        }
    };

    @Override
    public NDArray decode(NDManager step, int[] tokens, KvCache cache) {
        return forward.decode(step, tokens, cache);
    }

    /**
     * In one forward pass where every prompt fits one prefill pass ({@link #PREFILL_CHUNK}): the weights are read
     * once for the prefill and the decode step ({@link StepBatch#mixed}); otherwise one after the other.
     */
    @Override
    public NDArray prefillAndDecode(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] tokens) {
        int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElse(0);
        if (prompts.length == 0 || tokens.length == 0 || longest > PREFILL_CHUNK) {
            return CausalLM.super.prefillAndDecode(step, prompts, slots, cache, hook, tokens);
        }
        return forward.prefillAndDecode(step, prompts, slots, cache, hook, tokens);
    }

    @Override
    public NDArray logitsAllPositions(NDManager step, int[] prompt) {
        try (KvCache cache = newCache(1, prompt.length)) {
            return forward.logitsAllPositions(step, prompt, cache);
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

package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ops.CpuTeam;
import java.util.Arrays;

/**
 * The forward loop shared by every architecture, for each kind of step {@link TransformerLM} runs: embed, run the
 * blocks (calling the hook after each one it touches, on prompt positions only), then the head at the positions
 * that need logits. A prefill pass, a decode step, and both in one pass (a mixed step, {@link StepBatch#mixed}).
 * Decode runs the plain model: hooks never see generated tokens.
 */
final class Forward {

    private final Architecture arch;
    private final ModelConfig config;
    private final DataType dtype;
    private final CpuTeam team;

    Forward(Architecture arch, DataType dtype, CpuTeam team) {
        this.arch = arch;
        this.config = arch.config();
        this.dtype = dtype;
        this.team = team;
    }

    /**
     * One prefill pass: rows' tokens at positions [start, start + parts[r].length), rotated as sequences of
     * {@code whole[r]} positions, into their slots; the final hidden states at the pass's positions {@code from[r]}
     * and after (none for a row whose {@code from[r]} is its part's length), row by row.
     */
    NDArray passHidden(NDManager step, PrefillPass pass, int[] whole, KvCache cache, BlockHook hook) {
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

    /**
     * Embeddings, then every block (the hook after each one it touches, on a mixed step's prefill tokens only): the
     * residual stream [n, T, d].
     */
    private NDArray forward(long[] ids, StepBatch batch, KvCache cache, BlockHook hook) {
        NDArray x = arch.embed(ids, batch);
        for (int l = 0; l < config.numLayers(); l++) {
            x = arch.block(l, x, batch, cache);
            if (hook.touches(l)) {
                x = batch.isMixed() ? afterBlockOfPrefill(l, x, batch.prefillPart(), hook) : hook.afterBlock(l, x);
            }
        }
        return x;
    }

    /** A mixed step's [1, N, d] with the hook applied to its first {@code prefill.rows() x prefill.tokens()}. */
    private NDArray afterBlockOfPrefill(int layer, NDArray x, StepBatch prefill, BlockHook hook) {
        long tokens = (long) prefill.rows() * prefill.tokens();
        int d = config.hiddenSize();
        NDArray rows = x.get(new NDIndex(":, :{}", tokens)).reshape(prefill.rows(), prefill.tokens(), d);
        NDArray edited = hook.afterBlock(layer, rows).reshape(1, tokens, d);
        return edited.concat(x.get(new NDIndex(":, {}:", tokens)), 1);
    }

    NDArray decode(NDManager step, int[] tokens, KvCache cache) {
        int n = tokens.length;
        checkDecodable(cache, n);
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

    private static void checkDecodable(KvCache cache, int n) {
        for (int i = 0; i < n; i++) {
            if (cache.length(i) == 0) {
                throw new IllegalStateException("slot " + i + " was never prefilled");
            }
            if (cache.length(i) >= cache.maxTokens()) {
                throw new IllegalStateException("slot " + i + " is full (" + cache.maxTokens() + " tokens)");
            }
        }
    }

    /**
     * {@link CausalLM#prefillAndDecode} in one forward pass ({@link StepBatch#mixed}): the weights are read once, not
     * once for the prefill and again for the decode step. Whole prompts of one pass each, at least one of each kind.
     */
    NDArray prefillAndDecode(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] tokens) {
        int np = prompts.length;
        int nd = tokens.length;
        int[] lengths = Arrays.stream(prompts).mapToInt(p -> p.length).toArray();
        int longest = Arrays.stream(lengths).max().orElse(0);
        checkDecodable(cache, nd);
        int rowsNeeded = nd;
        int tokensNeeded = longest;
        for (int i = 0; i < np; i++) {
            if (lengths[i] == 0 || slots[i] < nd) {
                throw new IllegalArgumentException("prompt " + i + " is empty or its slot " + slots[i]
                        + " is a decode row's");
            }
            rowsNeeded = Math.max(rowsNeeded, slots[i] + 1);
        }
        for (int i = 0; i < nd; i++) {
            tokensNeeded = Math.max(tokensNeeded, cache.length(i) + 1);
        }
        cache.ensure(rowsNeeded, tokensNeeded);
        long[] ids = new long[np * longest + nd];
        long[] wanted = new long[np + nd];
        for (int i = 0; i < np; i++) {
            for (int t = 0; t < lengths[i]; t++) {
                ids[i * longest + t] = prompts[i][t];
            }
            wanted[i] = (long) i * longest + lengths[i] - 1;
        }
        for (int i = 0; i < nd; i++) {
            ids[np * longest + i] = tokens[i];
            wanted[np + i] = (long) np * longest + i;
        }
        team.wake();
        StepBatch prefill = StepBatch.prefill(step, config.block(), cache, slots, lengths, lengths, longest, 0,
                dtype);
        StepBatch decode = StepBatch.decode(step, config.block(), cache, nd, dtype);
        NDArray x = forward(ids, StepBatch.mixed(prefill, decode), cache, hook);
        for (int i = 0; i < np; i++) {
            cache.setLength(slots[i], lengths[i]);
        }
        for (int i = 0; i < nd; i++) {
            cache.setLength(i, cache.length(i) + 1);
        }
        NDArray last = x.reshape(ids.length, config.hiddenSize()).get(new NDIndex("{}", step.create(wanted)));
        return arch.head(last).toType(DataType.FLOAT32, false);
    }

    /** Logits at every position of one prompt, [T, vocab], in slot 0 of a cache of its own. */
    NDArray logitsAllPositions(NDManager step, int[] prompt, KvCache cache) {
        cache.ensure(1, prompt.length);
        StepBatch batch = StepBatch.prefill(step, config.block(), cache, new int[] {0}, new int[] {prompt.length},
                new int[] {prompt.length}, prompt.length, 0, dtype);
        long[] ids = new long[prompt.length];
        for (int t = 0; t < prompt.length; t++) {
            ids[t] = prompt[t];
        }
        NDArray x = forward(ids, batch, cache, BlockHook.NONE);
        return arch.head(x.reshape(prompt.length, config.hiddenSize())).toType(DataType.FLOAT32, false);
    }
}

package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * A frozen causal language model with a batched prefill (with a block hook) and a batched single-token decode
 * over a shared {@link KvCache}. Arrays it returns belong to the caller's {@code step} manager.
 */
public interface CausalLM extends AutoCloseable {

    ModelConfig config();

    /** Where the weights and caches live; per-step arrays belong there too. */
    Device device();

    /**
     * A cache for up to {@code rows} sequences of up to {@code maxTokens} positions each, on the model's device. It
     * starts small and grows as the rows need, to at most {@code budgetTokens} rows x positions unless a single
     * request needs more.
     */
    KvCache newCache(int rows, int maxTokens, long budgetTokens);

    /** Bytes of one cached key or value element (the cache is kept in the model's compute dtype). */
    int cacheElementBytes();

    /** {@link #newCache(int, int, long)} that may grow to all its rows at full length. */
    default KvCache newCache(int rows, int maxTokens) {
        return newCache(rows, maxTokens, (long) rows * maxTokens);
    }

    /**
     * Runs the prompts (BOS included) through the model, rows right-padded to the longest, calling {@code hook}
     * after every block, and fills their cache slots.
     *
     * @return logits at each prompt's last position, [n, vocab], fp32
     */
    default NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook) {
        int[] last = new int[prompts.length];
        for (int i = 0; i < prompts.length; i++) {
            last[i] = prompts[i].length - 1;
        }
        return prefill(step, prompts, slots, cache, hook, last);
    }

    /**
     * The same prefill, with logits at more positions where a caller needs them (log-probabilities of the prompt's
     * own tokens): row i gives positions [{@code logitsFrom[i]}, its length), rows one after another.
     *
     * @return [sum over rows of (length - logitsFrom), vocab], fp32; each row's last position is its last entry
     */
    NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook, int[] logitsFrom);

    /**
     * The same prefill, handing the logits at positions [{@code logitsFrom[i]}, its length) of row i to {@code sink}
     * a block of positions at a time instead of returning them all, so a long prompt's log-probabilities never
     * need its whole [length, vocab] logits at once.
     *
     * @return logits at each prompt's last position, [n, vocab], fp32
     */
    NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook, int[] logitsFrom,
            PositionLogits sink);

    /** Prompt positions one prefill pass takes at most (longer prompts run in passes of this many). */
    default int prefillPass() {
        return Integer.MAX_VALUE;
    }

    /**
     * One pass of a prompt prefilled over several calls (a long prompt a pass per engine step): positions
     * [start, end) into {@code slot}, which holds positions [0, start) of the same prompt, with {@code hook} made
     * for the whole prompt (the model cuts it to these positions); the logits from {@code logitsFrom} on that fall
     * in the pass go to {@code sink}.
     *
     * @return the logits at the prompt's last position, [1, vocab] fp32, when {@code end} is the prompt's length;
     *     otherwise null
     */
    default NDArray prefillPart(NDManager step, int[] prompt, int start, int end, int slot, KvCache cache,
            BlockHook hook, int logitsFrom, PositionLogits sink) {
        throw new UnsupportedOperationException("this model prefills a prompt in one call");
    }

    /**
     * One decode step for slots [0, n): each takes {@code tokens[i]} at position {@code cache.length(i)}.
     *
     * @return next-token logits [n, vocab], fp32
     */
    NDArray decode(NDManager step, int[] tokens, KvCache cache);

    /**
     * New rows' prefill and the running rows' decode step at once: slots [0, tokens.length) each take
     * {@code tokens[i]} as {@link #decode} does, and the prompts go into their slots (all after those) as
     * {@link #prefill(NDManager, int[][], int[], KvCache, BlockHook)} does. A model may run both in one forward pass,
     * reading its weights once; this default runs the decode step, then the prefill.
     *
     * @return [prompts.length + tokens.length, vocab] fp32: each prompt's last position's logits, then each decode
     *     row's next-token logits
     */
    default NDArray prefillAndDecode(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] tokens) {
        NDArray decoded = decode(step, tokens, cache);
        return prefill(step, prompts, slots, cache, hook).concat(decoded, 0);
    }

    /**
     * The cached length at which a sequence's cache must be computed again ({@link #rebuild}) before its next decode
     * step, or -1 for never. Phi-3 with longrope: a sequence that started within the original context is rotated
     * with the short factors; the step that takes it past that context recomputes every position with the long ones,
     * as transformers' generate does.
     */
    default int rebuildAt() {
        return -1;
    }

    /**
     * Computes a sequence's cache again: its {@code tokens} (every cached position, prompt first) through the model
     * as a prefill into {@code slot}, with {@code hook} (the row's interventions, as at its first prefill), rotated
     * as the sequence's next step will be. The cache's length for the slot stays {@code tokens.length}.
     */
    default void rebuild(NDManager step, int[] tokens, int slot, KvCache cache, BlockHook hook) {
        throw new UnsupportedOperationException("this model never rebuilds a cache");
    }

    /** Logits at every position of one prompt, [T, vocab]; for checks against references. */
    NDArray logitsAllPositions(NDManager step, int[] prompt);

    @Override
    void close();
}

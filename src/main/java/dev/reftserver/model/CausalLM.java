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

    /** A cache for {@code rows} sequences of up to {@code maxTokens} positions each, on the model's device. */
    KvCache newCache(int rows, int maxTokens);

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
     * One decode step for slots [0, n): each takes {@code tokens[i]} at position {@code cache.length(i)}.
     *
     * @return next-token logits [n, vocab], fp32
     */
    NDArray decode(NDManager step, int[] tokens, KvCache cache);

    /** Logits at every position of one prompt, [T, vocab]; for checks against references. */
    NDArray logitsAllPositions(NDManager step, int[] prompt);

    @Override
    void close();
}

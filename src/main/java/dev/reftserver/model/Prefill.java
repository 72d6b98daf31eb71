package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.Arrays;
import java.util.List;

/**
 * One prefill as the model runs it: the prompts in passes of at most a chunk of positions per row
 * ({@link PrefillPass}), each pass with the hook cut to its rows and positions ({@link BlockHook#pass}; a hook that
 * cannot be cut runs everything in one pass), and the output layer run on the wanted positions a block of
 * {@link #LOGITS_BLOCK} at a time, each block handed to a {@link PositionLogits} and freed. Only each row's last
 * position's logits are kept, for sampling: echo on a 30,000-token prompt of a 151,936-token vocabulary would
 * otherwise hold 18 GB of logits.
 */
final class Prefill {

    /** Positions the output layer takes at once in a prefill (at most 39 MB of logits at a 151,936 vocabulary). */
    static final int LOGITS_BLOCK = 64;

    /** The model's side of a pass. */
    interface Passes {

        /**
         * Runs {@code pass} into the cache, rotating row r as a sequence of {@code ropeLengths[r]} positions, with
         * {@code hook} after the blocks: the final hidden states at the pass's wanted positions ([wanted, d], row by
         * row, each from its {@code from} to its part's end).
         */
        NDArray hidden(NDManager step, PrefillPass pass, int[] ropeLengths, KvCache cache, BlockHook hook);

        /** The output layer: float32 logits [m, vocab] of hidden states [m, d], owned by their manager. */
        NDArray head(NDArray hidden);
    }

    private Prefill() {
    }

    /**
     * @param ropeLengths each row rotated as a sequence of this many positions (its prompt's length but where a
     *                    rebuild asks for more)
     * @param logitsFrom  row i's logits go to {@code sink} from this position to its end
     * @return each row's last position's logits, [n, vocab] float32
     */
    static NDArray run(Passes model, int layers, NDManager step, int[][] prompts, int[] ropeLengths, int[] slots,
            KvCache cache, BlockHook hook, int[] logitsFrom, int chunk, PositionLogits sink) {
        for (int i = 0; i < prompts.length; i++) {
            if (prompts[i].length == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty (it needs at least BOS)");
            }
            if (prompts[i].length > cache.maxTokens()) {
                throw new IllegalArgumentException("prompt of " + prompts[i].length + " tokens exceeds the cache's "
                        + cache.maxTokens());
            }
            if (logitsFrom[i] < 0 || logitsFrom[i] >= prompts[i].length) {
                throw new IllegalArgumentException("logits from position " + logitsFrom[i] + " of a "
                        + prompts[i].length + "-token prompt");
            }
        }
        boolean hooked = hooked(hook, layers);
        int n = prompts.length;
        int longest = 0;
        int rowsNeeded = 0;
        for (int i = 0; i < n; i++) {
            longest = Math.max(longest, prompts[i].length);
            rowsNeeded = Math.max(rowsNeeded, slots[i] + 1);
        }
        List<PrefillPass> passes = PrefillPass.split(prompts, slots, logitsFrom, Math.min(chunk, longest));
        BlockHook[] hooks = new BlockHook[passes.size()];
        for (int p = 0; p < hooks.length; p++) {
            PrefillPass pass = passes.get(p);
            hooks[p] = passes.size() == 1 ? hook
                    : hooked ? hook.pass(pass.rows(), pass.start(), pass.end()) : BlockHook.NONE;
            if (hooks[p] == null) {
                // A hook that cannot be cut into passes sees the whole prompts at once.
                passes = PrefillPass.split(prompts, slots, logitsFrom, longest);
                hooks = new BlockHook[] {hook};
                break;
            }
        }
        NDArray[] last = new NDArray[n];
        for (int p = 0; p < passes.size(); p++) {
            PrefillPass pass = passes.get(p);
            cache.ensure(rowsNeeded, pass.end());
            int[] rope = new int[pass.rows().length];
            for (int r = 0; r < rope.length; r++) {
                rope[r] = ropeLengths[pass.rows()[r]];
            }
            pass(model, step, pass, prompts, rope, cache, hooks[p], sink, last);
        }
        return n == 1 ? last[0] : NDArrays.concat(new NDList(last), 0);
    }

    /**
     * Positions [start, end) of one prompt into {@code slot}, which holds its positions [0, start): see
     * {@link CausalLM#prefillPart}.
     */
    static NDArray part(Passes model, int layers, NDManager step, int[] prompt, int start, int end, int slot,
            KvCache cache, BlockHook hook, int logitsFrom, PositionLogits sink) {
        if (start < 0 || end <= start || end > prompt.length || end > cache.maxTokens()
                || start != cache.length(slot) || logitsFrom < 0 || logitsFrom >= prompt.length) {
            throw new IllegalArgumentException("cannot prefill positions [" + start + ", " + end + ") of a "
                    + prompt.length + "-token prompt into a slot holding " + cache.length(slot));
        }
        BlockHook cut = hook;
        if (start > 0 || end < prompt.length) {
            cut = hooked(hook, layers) ? hook.pass(new int[] {0}, start, end) : BlockHook.NONE;
            if (cut == null) {
                throw new IllegalArgumentException("this hook cannot be cut into passes");
            }
        }
        PrefillPass pass = new PrefillPass(start, new int[] {0}, new int[][] {Arrays.copyOfRange(prompt, start, end)},
                new int[] {slot}, new int[] {Math.min(Math.max(logitsFrom - start, 0), end - start)});
        cache.ensure(slot + 1, end);
        NDArray[] last = new NDArray[1];
        pass(model, step, pass, new int[][] {prompt}, new int[] {prompt.length}, cache, cut, sink, last);
        return last[0];
    }

    private static boolean hooked(BlockHook hook, int layers) {
        boolean hooked = false;
        for (int l = 0; l < layers; l++) {
            hooked |= hook.touches(l);
        }
        return hooked;
    }

    /**
     * One pass into the cache and its logits: a block at a time to {@code sink}, and each row's last prompt position,
     * where this pass reaches it, into {@code last} (owned by {@code step}).
     *
     * @param prompts     the whole prompts, indexed by the pass's rows ({@link PrefillPass#rows})
     * @param ropeLengths per pass row, the sequence length it is rotated as
     */
    static void pass(Passes model, NDManager step, PrefillPass pass, int[][] prompts, int[] ropeLengths,
            KvCache cache, BlockHook hook, PositionLogits sink, NDArray[] last) {
        try (NDManager passArrays = step.newSubManager()) {
            NDArray hidden = model.hidden(passArrays, pass, ropeLengths, cache, hook);
            logits(model, step, pass, prompts, hidden, sink, last);
        }
    }

    /**
     * The pass's wanted positions through the output layer a block at a time: each row's share of a block to
     * {@code sink}, and a row's last prompt position, where this pass reaches it, into {@code last} (owned by
     * {@code step}).
     */
    private static void logits(Passes model, NDManager step, PrefillPass pass, int[][] prompts, NDArray hidden,
            PositionLogits sink, NDArray[] last) {
        int[] rows = pass.rows();
        // Row r's wanted entries are [offset[r], offset[r + 1]) of hidden, from its part's position from[r].
        long[] offset = new long[rows.length + 1];
        for (int r = 0; r < rows.length; r++) {
            offset[r + 1] = offset[r] + pass.parts()[r].length - pass.from()[r];
        }
        long wanted = offset[rows.length];
        int r = 0;
        for (long b = 0; b < wanted; b += LOGITS_BLOCK) {
            long end = Math.min(wanted, b + LOGITS_BLOCK);
            try (NDManager block = step.newSubManager()) {
                NDArray logits = model.head(hidden.get(block, new NDIndex("{}:{}", b, end)));
                for (; r < rows.length && offset[r] < end; r++) {
                    long lo = Math.max(offset[r], b);
                    long hi = Math.min(offset[r + 1], end);
                    if (lo < hi) {
                        NDArray share = logits.get(new NDIndex("{}:{}", lo - b, hi - b));
                        int position = (int) (pass.start() + pass.from()[r] + lo - offset[r]);
                        sink.accept(rows[r], position, share);
                        if (position + (hi - lo) == prompts[rows[r]].length) {
                            last[rows[r]] = share.get(new NDIndex("{}:", hi - lo - 1)).duplicate();
                            last[rows[r]].attach(step);
                        }
                    }
                    if (offset[r + 1] > end) {
                        break;
                    }
                }
            }
        }
    }
}

package dev.reftserver.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.reftserver.intervention.EditNormListener;
import dev.reftserver.intervention.InterventionPlan;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.CausalLM;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ops.NativeOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Executes a step's plan on the model: batched prefill of the newcomers with their per-row intervention plan (and,
 * for echo rows, the logits of every prompt position), one batched decode of the running rows (in one model call
 * with the prefill where {@link #canMix}), and sampling with each row's logits processor and log-probabilities. Owns
 * the KV cache and the running batch, whose rows sit in cache slots [0, n): a finished row's slot is refilled at
 * once by moving the last row into it, so decode never gathers the cache. Engine thread only.
 */
final class ModelRunner implements AutoCloseable {

    private final CausalLM model;
    private final EditNormListener editNorms;
    private final EngineMetrics metrics;
    /** Parent of every step's arrays, on the model's device (DJL's default device may be another). */
    private final NDManager manager;
    private final KvCache cache;
    private final long budgetTokens;
    private final boolean mixedSteps;
    /** Running rows; index = cache slot. */
    private final List<Generation> running;
    /**
     * A row whose prompt is longer than one prefill pass ({@link CausalLM#prefillPass()}): prefilled a pass per step,
     * so decode steps (and the engine's heartbeat) go on between its passes, in the slot right after the running
     * rows, where decode never reads; null when none. One at a time.
     */
    private Generation partial;
    /** Rows with the partial row's prompt (other choices of its request): they take its cache when it ends. */
    private final List<Generation> followers = new ArrayList<>();
    private BlockHook partialHook;
    private PromptLogprobs partialLogprobs;

    ModelRunner(CausalLM model, EngineSettings settings, EngineMetrics metrics, EditNormListener editNorms) {
        int maxBatchSize = settings.maxBatchSize();
        this.model = model;
        this.editNorms = editNorms;
        this.metrics = metrics;
        this.manager = NDManager.newBaseManager(model.device());
        // Allocated as rows run, never max rows x max context up front: see KvCache.
        this.cache = model.newCache(maxBatchSize, settings.context(model.config().maxPositions()),
                settings.kvCacheTokens());
        this.budgetTokens = settings.kvCacheTokens();
        this.mixedSteps = settings.mixedSteps();
        this.running = new ArrayList<>(maxBatchSize);
    }

    /** The running batch in slot order (read-only for callers). */
    List<Generation> running() {
        return running;
    }

    /** The row being prefilled a pass per step, or null. */
    Generation partial() {
        return partial;
    }

    /** The row being prefilled a pass per step and the rows that share its prompt; empty when none. */
    List<Generation> partialRows() {
        if (partial == null) {
            return List.of();
        }
        List<Generation> out = new ArrayList<>(1 + followers.size());
        out.add(partial);
        out.addAll(followers);
        return out;
    }

    /** Whether a row's prompt is prefilled a pass per step ({@link #startPartial}) rather than in one step. */
    boolean longPrompt(Generation g) {
        return g.prompt().length > model.prefillPass();
    }

    /** A manager for one step's arrays; closing it frees them all. */
    NDManager newStep() {
        return manager.newSubManager();
    }

    /**
     * Runs the newcomers' prompts into the slots after the running rows and samples each one's first token. On
     * success they join the batch as DECODING; on failure nothing of theirs stays in the cache and the batch is as
     * it was.
     *
     * @return the sampled token of {@code rows.get(i)} at index i
     */
    int[] prefill(NDManager step, List<Generation> rows) {
        return prefill(step, rows, false)[0];
    }

    /**
     * Whether the newcomers' prefill can run in one pass with the running rows' decode step
     * ({@link #prefillAndDecode}): the settings allow it, rows are running, and no newcomer wants its prompt's
     * log-probabilities or has a prompt longer than one prefill pass.
     */
    boolean canMix(List<Generation> rows) {
        if (!mixedSteps || running.isEmpty()) {
            return false;
        }
        for (Generation g : rows) {
            if (g.logprobs().prompt() || longPrompt(g)) {
                return false;
            }
        }
        return true;
    }

    /**
     * {@link #prefill} of the newcomers and {@link #decode} of the running rows in one model call
     * ({@link CausalLM#prefillAndDecode}: one read of the weights for both where the model can). On failure nothing
     * of the newcomers' stays in the cache and the running rows' caches are as they were, ready for a decode step.
     *
     * @return the newcomers' sampled first tokens (index i for {@code rows.get(i)}), then the running rows' next
     *     tokens in their order before the call
     */
    int[][] prefillAndDecode(NDManager step, List<Generation> rows) {
        if (!canMix(rows)) {
            throw new IllegalArgumentException("these rows cannot be prefilled beside a decode step");
        }
        return prefill(step, rows, true);
    }

    /** {@link #prefill}, with the running rows' decode step in the same model call where {@code decode}. */
    private int[][] prefill(NDManager step, List<Generation> rows, boolean decode) {
        int n = rows.size();
        int base = running.size();
        // Rows with the same prompt, interventions and echo (the choices of one request) are computed once: the
        // others copy the first one's cache and logits, then sample on their own.
        int[] source = new int[n];
        List<Generation> unique = new ArrayList<>(n);
        List<Integer> uniqueAt = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            source[i] = -1;
            for (int u = 0; u < unique.size() && source[i] < 0; u++) {
                if (samePrefill(unique.get(u), rows.get(i))) {
                    source[i] = u;
                }
            }
            if (source[i] < 0) {
                source[i] = unique.size();
                unique.add(rows.get(i));
                uniqueAt.add(i);
            }
        }
        int u = unique.size();
        int[][] prompts = new int[u][];
        int[] slots = new int[u];
        int[] logitsFrom = new int[u];
        List<InterventionPlan.Row> plan = new ArrayList<>(u);
        boolean anyBundle = false;
        long tokens = 0;
        int longest = 0;
        for (int k = 0; k < u; k++) {
            Generation g = unique.get(k);
            prompts[k] = g.prompt();
            slots[k] = base + uniqueAt.get(k);
            tokens += g.prompt().length;
            longest = Math.max(longest, g.prompt().length);
            // Rows reporting their prompt's log-probabilities (echo) need the logits of every position.
            logitsFrom[k] = g.logprobs().prompt() ? 0 : g.prompt().length - 1;
            plan.add(new InterventionPlan.Row(g.interventions(), g.prompt().length));
            anyBundle |= !g.interventions().isEmpty();
        }
        BlockHook hook = anyBundle ? new InterventionPlan(plan, editNorms) : BlockHook.NONE;
        // The row being prefilled a pass per step keeps the slot after the running rows: after these.
        int partialSlot = partial == null ? -1 : partial.slot;
        if (partial != null) {
            cache.ensure(base + n + 1, cache.length(partialSlot));
            cache.move(partialSlot, base + n);
            partial.slot = base + n;
        }
        List<Generation> decoding = decode ? List.copyOf(running) : List.of();
        int[] decodingLengths = new int[decoding.size()];
        Arrays.setAll(decodingLengths, cache::length);
        long t0 = System.nanoTime();
        int[] next;
        int[] decoded = null;
        NDArray decodeLogits = null;
        try {
            NDArray logits;
            if (decode) {
                rebuildDue(step);
                NDArray all = model.prefillAndDecode(step, prompts, slots, cache, hook, lastTokens());
                logits = all.get(new NDIndex("0:{}", u));
                decodeLogits = all.get(new NDIndex("{}:", u));
            } else {
                logits = model.prefill(step, prompts, slots, cache, hook, logitsFrom, new PromptLogprobs(unique));
            }
            if (u < n) {
                cache.ensure(base + n, longest);
                long[] from = new long[n];
                for (int i = 0; i < n; i++) {
                    from[i] = source[i];
                    Generation g = rows.get(i);
                    Generation first = unique.get(source[i]);
                    if (g != first) {
                        cache.copy(slots[source[i]], base + i);
                        g.pendingPromptLogprobs = first.pendingPromptLogprobs == null ? null
                                : first.pendingPromptLogprobs.clone();
                    }
                }
                logits = logits.get(new NDIndex("{}", step.create(from)));
            }
            next = sample(logits, rows);
            if (decode) {
                decoded = sample(decodeLogits, decoding);
            }
        } catch (Throwable t) {
            // The running rows keep their cache as it was: what the step wrote past it is written again by the next.
            for (int i = 0; i < decodingLengths.length; i++) {
                cache.truncate(i, Math.min(decodingLengths[i], cache.length(i)));
            }
            for (Generation g : rows) {
                g.pendingPromptLogprobs = null;
                g.pendingLogprobs = null;
            }
            for (int i = 0; i < n; i++) {
                cache.clear(base + i);
            }
            if (partial != null) {
                cache.move(partial.slot, partialSlot);
                partial.slot = partialSlot;
            }
            throw t;
        }
        if (decode) {
            metrics.mixedStep(n, tokens, decoding.size(), System.nanoTime() - t0);
        } else {
            metrics.prefill(n, tokens, System.nanoTime() - t0);
        }
        for (int i = 0; i < n; i++) {
            Generation g = rows.get(i);
            g.slot = base + i;
            g.state(RowState.DECODING);
            running.add(g);
        }
        return new int[][] {next, decoded};
    }

    /**
     * Whether two rows' prefills compute the same thing: the same prompt and interventions, and the same prompt
     * log-probabilities (none, or as many alternatives each).
     */
    static boolean samePrefill(Generation a, Generation b) {
        boolean logprobs = a.logprobs().prompt() ? a.logprobs().equals(b.logprobs()) : !b.logprobs().prompt();
        return logprobs && a.interventions().equals(b.interventions()) && Arrays.equals(a.prompt(), b.prompt());
    }

    /**
     * Makes {@code g} (admitted, its prompt longer than one pass) the row prefilled a pass per step, in the slot
     * after the running rows, with {@code sharing}: admitted rows of the same prompt ({@link #samePrefill}), which
     * copy its cache when its prompt is in; {@link #continuePartial} runs its passes.
     */
    void startPartial(Generation g, List<Generation> sharing) {
        if (partial != null) {
            throw new IllegalStateException("a row is already prefilled a pass per step");
        }
        g.slot = running.size();
        cache.clear(g.slot);
        partialHook = g.interventions().isEmpty() ? BlockHook.NONE
                : new InterventionPlan(List.of(new InterventionPlan.Row(g.interventions(), g.prompt().length)),
                        editNorms);
        partialLogprobs = new PromptLogprobs(List.of(g));
        partial = g;
        followers.clear();
        followers.addAll(sharing);
    }

    /**
     * The partial row's next pass. When it reaches the prompt's end, the rows that share its prompt copy its cache
     * into the slots after it, each samples its first token, and all join the running batch as DECODING.
     *
     * @return the sampled first tokens of {@link #partialRows()} as they were, or null while the prompt is not all
     *     in the cache
     * @throws RuntimeException when the pass fails; the rows are then no longer partial and hold no slot (the
     *     caller finishes {@link #partialRows()} as they were before the call)
     */
    int[] continuePartial(NDManager step) {
        Generation g = partial;
        List<Generation> rows = partialRows();
        int done = cache.length(g.slot);
        int length = g.prompt().length;
        int end = Math.min(length, done + model.prefillPass());
        int logitsFrom = g.logprobs().prompt() ? 0 : length - 1;
        long t0 = System.nanoTime();
        int[] next = null;
        try {
            NDArray logits = model.prefillPart(step, g.prompt(), done, end, g.slot, cache, partialHook, logitsFrom,
                    partialLogprobs);
            if (end == length) {
                for (int k = 1; k < rows.size(); k++) {
                    Generation f = rows.get(k);
                    f.slot = g.slot + k;
                    cache.ensure(f.slot + 1, length);
                    cache.copy(g.slot, f.slot);
                    f.pendingPromptLogprobs = g.pendingPromptLogprobs == null ? null : g.pendingPromptLogprobs.clone();
                }
                next = sample(rows.size() == 1 ? logits : logits.repeat(0, rows.size()), rows);
            }
        } catch (Throwable t) {
            for (Generation r : rows) {
                r.pendingPromptLogprobs = null;
                r.pendingLogprobs = null;
            }
            dropPartialRows();
            throw t;
        }
        metrics.prefill(next == null ? 0 : rows.size(), end - done, System.nanoTime() - t0);
        if (next != null) {
            partial = null;
            followers.clear();
            for (Generation r : rows) {
                r.state(RowState.DECODING);
                running.add(r);
            }
        }
        return next;
    }

    /**
     * A row of {@link #partialRows()} leaves (cancelled or expired): a follower simply goes; the partial row hands
     * its slot and what its passes computed to its first follower, or frees the slot. It is the caller's to finish.
     */
    void dropPartial(Generation g) {
        if (followers.remove(g)) {
            return;
        }
        if (g != partial) {
            return;
        }
        if (followers.isEmpty()) {
            dropPartialRows();
            return;
        }
        Generation next = followers.remove(0);
        next.slot = g.slot;
        g.slot = -1;
        TokenLogprobs[] sofar = g.pendingPromptLogprobs;
        partialLogprobs = new PromptLogprobs(List.of(next));
        if (sofar != null && next.pendingPromptLogprobs != null) {
            System.arraycopy(sofar, 0, next.pendingPromptLogprobs, 0, sofar.length);
        }
        g.pendingPromptLogprobs = null;
        partial = next;
    }

    /** The partial row and its followers give up their place; they are the caller's to finish. */
    List<Generation> dropPartialRows() {
        List<Generation> rows = partialRows();
        if (partial != null) {
            cache.clear(partial.slot);
        }
        for (Generation r : rows) {
            r.slot = -1;
        }
        partial = null;
        followers.clear();
        partialHook = null;
        partialLogprobs = null;
        return rows;
    }

    /**
     * One decode step for every running row.
     *
     * @return the sampled token of {@code running().get(i)} at index i
     */
    int[] decode(NDManager step) {
        int[] tokens = lastTokens();
        rebuildDue(step);
        long t0 = System.nanoTime();
        NDArray logits = model.decode(step, tokens, cache);
        int[] next = sample(logits, running);
        metrics.decodeStep(tokens.length, System.nanoTime() - t0);
        return next;
    }

    /** The token each running row takes next, in slot order. */
    private int[] lastTokens() {
        int[] tokens = new int[running.size()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = running.get(i).lastToken;
        }
        return tokens;
    }

    /** Rebuilds the cache of each running row at the model's rebuild length ({@link CausalLM#rebuildAt()}). */
    private void rebuildDue(NDManager step) {
        int rebuildAt = model.rebuildAt();
        if (rebuildAt > 0) {
            for (int i = 0; i < running.size(); i++) {
                if (cache.length(i) == rebuildAt) {
                    rebuild(step, running.get(i));
                }
            }
        }
    }

    /**
     * Computes a running row's cache again ({@link CausalLM#rebuildAt()}): its prompt and the tokens it has taken,
     * with its interventions at its prompt's positions as at its prefill.
     */
    private void rebuild(NDManager step, Generation g) {
        int[] tokens = g.cachedTokens();
        BlockHook hook = g.interventions().isEmpty() ? BlockHook.NONE
                : new InterventionPlan(List.of(new InterventionPlan.Row(g.interventions(), g.prompt().length)), null);
        long t0 = System.nanoTime();
        model.rebuild(step, tokens, g.slot, cache, hook);
        metrics.prefill(1, tokens.length, System.nanoTime() - t0);
    }

    /**
     * Greedy rows take one argmax on the device; sampling rows, and rows with penalties, logit bias or
     * log-probabilities, copy their own logits to the host. There log-probabilities are taken from the raw logits,
     * then the row's logits processor edits them, then its sampler picks; the output processor reports them with
     * the token.
     */
    private static int[] sample(NDArray logits, List<Generation> rows) {
        int n = rows.size();
        int[] out = new int[n];
        long[] argmax = null;
        for (int i = 0; i < n; i++) {
            Generation g = rows.get(i);
            if (g.sampler.greedy() && !g.needsHostLogits()) {
                if (argmax == null) {
                    try (NativeOps op = new NativeOps()) {
                        argmax = op.keep(op.rowArgmax(NativeOps.handle(logits)), logits.getManager()).toLongArray();
                    }
                }
                out[i] = (int) argmax[i];
            } else {
                float[] row = logits.get(i).toFloatArray();
                float[] raw = !g.logprobs().any() ? null : g.processor.isNone() ? row : row.clone();
                g.processor.apply(row);
                out[i] = g.sampler.sample(row);
                if (raw != null) {
                    g.pendingLogprobs = TokenLogprobs.of(raw, out[i], g.logprobs().top());
                }
            }
        }
        return out;
    }

    /** Whether a running row's slot is at the model's context, so it can take no further token. */
    boolean contextFull(Generation g) {
        return cache.length(g.slot) >= cache.maxTokens();
    }

    /** Frees a running row's slot: the last running row moves into it so slots stay [0, n). */
    void retire(Generation g) {
        int s = g.slot;
        int last = running.size() - 1;
        if (s < 0 || s > last || running.get(s) != g) {
            throw new IllegalStateException("row is not in slot " + s + " of the running batch");
        }
        if (s != last) {
            Generation moved = running.get(last);
            cache.move(last, s);
            running.set(s, moved);
            moved.slot = s;
        }
        cache.clear(last);
        running.remove(last);
        g.slot = -1;
        if (partial != null) {
            // The partial row follows the running rows down.
            cache.move(partial.slot, running.size());
            partial.slot = running.size();
        }
        if (running.isEmpty()) {
            cache.shrinkIfEmpty();
        }
    }

    /**
     * Empties the batch without touching the device (after a failed step, whose cache contents are not trusted):
     * the rows that were running, for the caller to finish.
     */
    List<Generation> dropAll() {
        List<Generation> out = new ArrayList<>(running);
        for (int s = 0; s < running.size(); s++) {
            cache.clear(s);
            running.get(s).slot = -1;
        }
        running.clear();
        out.addAll(dropPartialRows());
        return out;
    }

    /** The budget the cache may grow to (its allocation is {@link #kvCacheBytes()}). */
    long kvCacheCapacityTokens() {
        return budgetTokens;
    }

    long kvCacheBytes() {
        return cache.bytes();
    }

    int liveStepArrays() {
        return manager.getManagedArrays().size();
    }

    int maxContext() {
        return cache.maxTokens();
    }

    @Override
    public void close() {
        cache.close();
        manager.close();
    }
}

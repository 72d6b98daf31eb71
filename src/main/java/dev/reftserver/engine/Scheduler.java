package dev.reftserver.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.intervention.EditNormListener;
import dev.reftserver.intervention.InterventionPlan;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.CausalLM;
import dev.reftserver.model.KvCache;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Continuous batching on one engine thread that owns the model. Each step: drop cancelled and expired rows,
 * admit waiting rows (round-robin across tenants, within the batch size and the KV token budget), prefill the
 * newcomers together with their per-row intervention plan, then run one decode step for every running row and
 * stream each row's text. Running rows stay in cache slots [0, n): a finished row's slot is refilled at once by
 * moving the last row into it, so decode never gathers the cache.
 *
 * <p>Fairness: waiting rows sit in one queue per tenant and admission takes one row per tenant in turn, so a
 * tenant's burst of hundreds of requests delays another tenant's single request by at most one admission round.
 * The same holds at the door: when a burst has filled the queue, a tenant below its equal share of the queue
 * still gets in (see {@link #withinFairShare}); only the burst's overflow answers 503.
 * Round-robin over requests (rather than a virtual token counter) is enough here because every row's cost is
 * bounded by max_tokens and the decode cost per row is the same for every tenant.
 */
public final class Scheduler implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Scheduler.class);

    private final CausalLM model;
    private final TextTokenizer tokenizer;
    private final EditNormListener editNorms;
    private final EngineSettings settings;
    private final EngineMetrics metrics;
    private final NDManager manager;
    private final KvCache cache;
    private final int[] eos;

    private final Object lock = new Object();
    private final Map<String, ArrayDeque<Generation>> waiting = new HashMap<>();
    private final ArrayDeque<String> tenantTurns = new ArrayDeque<>();
    private int waitingRows;
    private boolean accepting = true;
    private boolean stopped;

    /** Running rows; index = cache slot. Engine thread only. */
    private final List<Generation> running = new ArrayList<>();
    private volatile int runningRows;
    private long reservedTokens;
    private Thread thread;

    public Scheduler(CausalLM model, TextTokenizer tokenizer, EngineSettings settings, EngineMetrics metrics,
            EditNormListener editNorms) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.editNorms = editNorms;
        this.settings = settings;
        this.metrics = metrics;
        this.manager = NDManager.newBaseManager();
        this.cache = model.newCache(settings.maxBatchSize(), model.config().maxPositions());
        this.eos = tokenizer.eosIds();
        metrics.bind(this);
        resume();
    }

    /** Starts (or, after {@link #drain()}, restarts) the engine thread and admission. Idempotent. */
    public void resume() {
        synchronized (lock) {
            if (thread != null && thread.isAlive()) {
                return;
            }
            accepting = true;
            stopped = false;
            thread = new Thread(this::loop, "reft-engine");
            thread.setDaemon(true);
            thread.start();
        }
    }

    /** Queues the rows of one request, all or none. */
    public void submit(List<Generation> rows) {
        synchronized (lock) {
            if (!accepting) {
                throw new EngineUnavailableException("the server is shutting down");
            }
            if (rows.isEmpty()) {
                return;
            }
            if (waitingRows + rows.size() > settings.maxQueue()
                    && !withinFairShare(rows.get(0).tenant(), rows.size())) {
                metrics.rejected();
                throw new QueueFullException(waitingRows, 1 + waitingRows / Math.max(1, settings.maxBatchSize()));
            }
            long now = System.nanoTime();
            for (Generation g : rows) {
                g.enqueuedNanos = now;
                ArrayDeque<Generation> q = waiting.computeIfAbsent(g.tenant(), t -> new ArrayDeque<>());
                if (q.isEmpty() && !tenantTurns.contains(g.tenant())) {
                    tenantTurns.addLast(g.tenant());
                }
                q.addLast(g);
                waitingRows++;
            }
            lock.notifyAll();
        }
    }

    /**
     * Whether a full queue still takes {@code n} more rows of {@code tenant}: yes while the tenant's waiting rows,
     * these included, stay within an equal share of max-queue among the tenants waiting, so one tenant's burst
     * cannot lock the others out of the queue. Such admissions stop at twice max-queue, which bounds the queue.
     * Holds the lock.
     */
    private boolean withinFairShare(String tenant, int n) {
        ArrayDeque<Generation> own = waiting.get(tenant);
        int held = own == null ? 0 : own.size();
        int tenants = waiting.size() + (own == null ? 1 : 0);
        return held + n <= settings.maxQueue() / tenants && waitingRows + n <= 2L * settings.maxQueue();
    }

    public int runningRows() {
        return runningRows;
    }

    public int waitingRows() {
        synchronized (lock) {
            return waitingRows;
        }
    }

    public long kvCacheUsedTokens() {
        return reservedTokens;
    }

    public long kvCacheCapacityTokens() {
        return (long) cache.rows() * cache.maxTokens();
    }

    public long kvCacheBytes() {
        return cache.bytes();
    }

    /** NDArrays alive under the engine's own manager (per-step arrays; should be 0 between steps). */
    public int liveStepArrays() {
        return manager.getManagedArrays().size();
    }

    public int maxContext() {
        return cache.maxTokens();
    }

    /**
     * Stops admitting, lets running and waiting rows finish within the grace period, then cuts the rest and
     * stops the engine thread. Idempotent.
     */
    public void drain() {
        synchronized (lock) {
            accepting = false;
            lock.notifyAll();
        }
        long deadline = System.nanoTime() + settings.shutdownGrace().toNanos();
        try {
            while (System.nanoTime() < deadline) {
                synchronized (lock) {
                    if (waitingRows == 0 && runningRows == 0) {
                        break;
                    }
                    lock.wait(20);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Thread engineThread;
        synchronized (lock) {
            stopped = true;
            engineThread = thread;
            lock.notifyAll();
        }
        try {
            engineThread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        drain();
        cache.close();
        manager.close();
    }

    private void loop() {
        while (true) {
            List<Generation> newcomers;
            synchronized (lock) {
                while (!stopped && running.isEmpty() && waitingRows == 0) {
                    try {
                        lock.wait(100);
                    } catch (InterruptedException e) {
                        stopped = true;
                    }
                }
                if (stopped) {
                    cutEverything();
                    lock.notifyAll();
                    return;
                }
                newcomers = admit();
                // Admitted rows left the queue but are not in the batch until their prefill ends: count them as
                // running now, or a drain that starts during that prefill sees an idle engine and cuts them.
                runningRows = running.size() + newcomers.size();
            }
            try (NDManager step = manager.newSubManager()) {
                retireCancelled();
                if (!newcomers.isEmpty()) {
                    prefill(step, newcomers);
                }
                if (!running.isEmpty()) {
                    decode(step);
                }
            } catch (RuntimeException e) {
                log.error("engine step failed; failing its rows", e);
                for (Generation g : newcomers) {
                    if (!running.contains(g)) {
                        finish(g, FinishReason.ERROR);
                    }
                }
                for (int s = running.size() - 1; s >= 0; s--) {
                    finish(running.get(s), FinishReason.ERROR);
                    retire(s);
                }
            }
            synchronized (lock) {
                runningRows = running.size();
                lock.notifyAll();
            }
        }
    }

    /** Takes waiting rows one tenant at a time while slots and the token budget allow. Holds the lock. */
    private List<Generation> admit() {
        List<Generation> out = new ArrayList<>();
        long now = System.nanoTime();
        int free = settings.maxBatchSize() - running.size();
        int turnsWithoutProgress = 0;
        while (out.size() < free && !tenantTurns.isEmpty() && turnsWithoutProgress < tenantTurns.size()) {
            String tenant = tenantTurns.pollFirst();
            ArrayDeque<Generation> q = waiting.get(tenant);
            Generation g = q.peekFirst();
            if (g.cancelled() || g.expired(now)) {
                q.pollFirst();
                waitingRows--;
                finish(g, g.cancelled() ? FinishReason.CANCELLED : FinishReason.TIMEOUT);
                turnsWithoutProgress = 0;
            } else if (reservedTokens + need(g) <= settings.kvCacheTokens() || running.isEmpty() && out.isEmpty()) {
                q.pollFirst();
                waitingRows--;
                reservedTokens += need(g);
                out.add(g);
                turnsWithoutProgress = 0;
            } else {
                turnsWithoutProgress++;
            }
            if (q.isEmpty()) {
                waiting.remove(tenant);
            } else {
                tenantTurns.addLast(tenant);
            }
        }
        return out;
    }

    private static long need(Generation g) {
        return (long) g.prompt().length + g.params().maxTokens();
    }

    private void prefill(NDManager step, List<Generation> rows) {
        int n = rows.size();
        int[][] prompts = new int[n][];
        int[] slots = new int[n];
        int[] lengths = new int[n];
        int[] logitsFrom = new int[n];
        List<InterventionPlan.Row> plan = new ArrayList<>(n);
        boolean anyBundle = false;
        for (int i = 0; i < n; i++) {
            Generation g = rows.get(i);
            prompts[i] = g.prompt();
            lengths[i] = g.prompt().length;
            slots[i] = running.size() + i;
            // Call site: per-position logits. Rows reporting prompt log-probabilities (echo) need every position.
            logitsFrom[i] = g.logprobs().prompt() ? 0 : lengths[i] - 1;
            // Call site: the row's interventions (one bundle, or a composition with scales).
            plan.add(new InterventionPlan.Row(g.interventions(), lengths[i]));
            anyBundle |= !g.interventions().isEmpty();
            g.decoder = tokenizer.newStreamDecoder(g.prompt());
        }
        BlockHook hook = anyBundle ? new InterventionPlan(plan, editNorms) : BlockHook.NONE;
        long t0 = System.nanoTime();
        NDArray logits = model.prefill(step, prompts, slots, cache, hook, logitsFrom);
        logits = PromptLogprobs.report(step, logits, rows, logitsFrom);
        running.addAll(rows);
        int[] next = sample(logits, rows);
        long now = System.nanoTime();
        metrics.prefill(n, totalTokens(lengths), now - t0);
        for (int i = 0; i < n; i++) {
            Generation g = rows.get(i);
            g.firstTokenNanos = now;
            metrics.firstToken(g.tenant(), now - g.enqueuedNanos, lengths[i]);
        }
        acceptAll(rows, next);
    }

    private void decode(NDManager step) {
        int n = running.size();
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = running.get(i).lastToken;
        }
        long t0 = System.nanoTime();
        NDArray logits = model.decode(step, tokens, cache);
        int[] next = sample(logits, running);
        metrics.decodeStep(n, System.nanoTime() - t0);
        acceptAll(new ArrayList<>(running), next);
    }

    /**
     * Greedy rows take one argmax on the device; sampling rows, and rows with penalties, logit bias or
     * log-probabilities, copy their own logits to the host. Call site: log-probabilities are taken from the raw
     * logits, then the row's logits processor edits them, then its sampler picks.
     */
    private int[] sample(NDArray logits, List<Generation> rows) {
        int n = rows.size();
        int[] out = new int[n];
        long[] argmax = null;
        for (int i = 0; i < n; i++) {
            Generation g = rows.get(i);
            if (g.sampler.greedy() && !g.needsHostLogits()) {
                if (argmax == null) {
                    argmax = logits.argMax(1).toLongArray();
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

    /** Feeds each row its new token; finished rows leave their slots. {@code rows.get(i)} sits in slot i. */
    private void acceptAll(List<Generation> rows, int[] next) {
        List<Generation> done = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            Generation g = rows.get(i);
            if (g.cancelled()) {
                done.add(g);
                finish(g, FinishReason.CANCELLED);
                continue;
            }
            FinishReason reason = accept(g, next[i]);
            if (reason != null) {
                done.add(g);
                finish(g, reason);
            }
        }
        for (Generation g : done) {
            retire(running.indexOf(g));
        }
    }

    private FinishReason accept(Generation g, int token) {
        if (g.params().maxTokens() == 0) {
            // Call site: a row that asked for no tokens (echo of the prompt) ends with its prefill.
            return FinishReason.LENGTH;
        }
        g.generated++;
        metrics.generatedToken(g.tenant());
        // Call site: the accepted token feeds the penalties' history and reports its log-probabilities.
        g.processor.accept(token);
        if (g.pendingLogprobs != null) {
            g.listener().onTokenLogprobs(g.pendingLogprobs);
            g.pendingLogprobs = null;
        }
        for (int e : eos) {
            if (token == e) {
                emit(g, g.stops.append(g.decoder.flush()));
                emit(g, g.stops.flush());
                return FinishReason.STOP;
            }
        }
        emit(g, g.stops.append(g.decoder.next(token)));
        if (g.stops.stopped()) {
            return FinishReason.STOP;
        }
        int slot = running.indexOf(g);
        if (g.generated >= g.params().maxTokens() || cache.length(slot) >= cache.maxTokens()) {
            emit(g, g.stops.append(g.decoder.flush()));
            if (g.stops.stopped()) {
                return FinishReason.STOP;
            }
            emit(g, g.stops.flush());
            return FinishReason.LENGTH;
        }
        g.lastToken = token;
        return null;
    }

    private static void emit(Generation g, String text) {
        if (!text.isEmpty()) {
            g.listener().onText(text);
        }
    }

    private void finish(Generation g, FinishReason reason) {
        try {
            g.listener().onFinish(reason, g.prompt().length, g.generated);
        } catch (RuntimeException e) {
            log.warn("listener failed on finish", e);
        }
        if (g.firstTokenNanos > 0 && g.generated > 1) {
            metrics.finished(g.tenant(), reason, (System.nanoTime() - g.firstTokenNanos) / (g.generated - 1));
        } else {
            metrics.finished(g.tenant(), reason, -1);
        }
    }

    private void retireCancelled() {
        long now = System.nanoTime();
        for (int s = running.size() - 1; s >= 0; s--) {
            Generation g = running.get(s);
            if (g.cancelled() || g.expired(now)) {
                finish(g, g.cancelled() ? FinishReason.CANCELLED : FinishReason.TIMEOUT);
                retire(s);
            }
        }
    }

    /** Frees slot {@code s}: the last running row moves into it so slots stay [0, n). */
    private void retire(int s) {
        Generation g = running.get(s);
        reservedTokens -= need(g);
        int last = running.size() - 1;
        if (s != last) {
            cache.move(last, s);
            running.set(s, running.get(last));
        }
        cache.clear(last);
        running.remove(last);
    }

    private void cutEverything() {
        for (int s = running.size() - 1; s >= 0; s--) {
            finish(running.get(s), FinishReason.SHUTDOWN);
            retire(s);
        }
        for (Iterator<ArrayDeque<Generation>> it = waiting.values().iterator(); it.hasNext();) {
            for (Generation g : it.next()) {
                finish(g, FinishReason.SHUTDOWN);
            }
            it.remove();
        }
        tenantTurns.clear();
        waitingRows = 0;
        runningRows = 0;
    }

    private static long totalTokens(int[] lengths) {
        long t = 0;
        for (int l : lengths) {
            t += l;
        }
        return t;
    }
}

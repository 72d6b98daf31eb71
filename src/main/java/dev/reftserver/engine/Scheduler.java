package dev.reftserver.engine;

import ai.djl.ndarray.NDManager;
import dev.reftserver.intervention.EditNormListener;
import dev.reftserver.model.CausalLM;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Continuous batching on one engine thread that owns the model. Each step, the {@link StepPlanner} decides (under
 * the lock, with no model work): which cancelled or expired rows retire, which waiting rows are admitted (round-robin
 * across tenants, within the batch size and the KV token budget). Then, outside the lock, the {@link ModelRunner}
 * prefills the newcomers together with their per-row intervention plan and runs one decode step for every running
 * row (both in one forward pass where it can, {@link ModelRunner#canMix}: the weights are read once, not twice), and
 * the {@link OutputProcessor} streams each row's text and finishes rows. Listeners therefore never run
 * under the lock, and a slow one delays only the engine, never a caller of {@link #submit}.
 *
 * <p>Faults: any {@link Throwable} in a step fails only the rows it touched, with {@link FinishReason#ERROR}: a
 * failed prefill fails the newcomers (also in a mixed step, whose running rows then take their decode step alone), a
 * failed decode the running rows, a failed output or listener its own row; the loop goes on and serves the next
 * requests. {@link #fault()} tells a dead or stuck engine thread from a busy one, for the liveness probe.
 */
public final class Scheduler implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Scheduler.class);

    private final EngineSettings settings;
    private final EngineMetrics metrics;
    private final StepPlanner planner;
    private final ModelRunner runner;
    private final OutputProcessor output;

    private final Object lock = new Object();
    private boolean accepting = true;
    private volatile boolean stopped;
    private volatile int waitingRows;
    private volatile int runningRows;
    /** When the engine thread last finished a step or looked for work while idle. */
    private volatile long heartbeatNanos = System.nanoTime();
    private volatile Thread thread;
    /** When the next pass of a long prompt may run while rows decode (engine thread only). */
    private long nextPassNanos;
    /** Told how long each step took, so training can take its bounded share of the engine. */
    private volatile DeviceTimeShare deviceShare;

    public Scheduler(CausalLM model, TextTokenizer tokenizer, EngineSettings settings, EngineMetrics metrics,
            EditNormListener editNorms) {
        this.settings = settings;
        this.metrics = metrics;
        this.planner = new StepPlanner(settings, model.prefillPass());
        this.runner = new ModelRunner(model, settings, metrics, editNorms);
        this.output = new OutputProcessor(tokenizer, metrics);
        metrics.bind(this);
        resume();
    }

    /** From now on, reports each step's duration to {@code share} (training's gate). */
    public void shareDeviceWith(DeviceTimeShare share) {
        this.deviceShare = share;
    }

    /** Starts (or, after {@link #drain()}, restarts) the engine thread and admission. Idempotent. */
    public void resume() {
        synchronized (lock) {
            if (thread != null && thread.isAlive()) {
                return;
            }
            accepting = true;
            stopped = false;
            heartbeatNanos = System.nanoTime();
            thread = new Thread(this::loop, "reft-engine");
            thread.setDaemon(true);
            thread.start();
        }
    }

    /**
     * Queues the rows of one request, all or none. Accepted rows are the engine's: it finishes each exactly once
     * and releases its lease then. Refused rows (the exception) stay the caller's.
     */
    public void submit(List<Generation> rows) {
        synchronized (lock) {
            if (!accepting) {
                throw new EngineUnavailableException("the server is shutting down");
            }
            if (!planner.offer(rows, System.nanoTime())) {
                metrics.rejected();
                int waiting = planner.waitingRows();
                throw new QueueFullException(waiting, 1 + waiting / Math.max(1, settings.maxBatchSize()));
            }
            waitingRows = planner.waitingRows();
            lock.notifyAll();
        }
    }

    public int runningRows() {
        return runningRows;
    }

    public int waitingRows() {
        return waitingRows;
    }

    public long kvCacheUsedTokens() {
        return planner.reservedTokens();
    }

    public long kvCacheCapacityTokens() {
        return runner.kvCacheCapacityTokens();
    }

    public long kvCacheBytes() {
        return runner.kvCacheBytes();
    }

    /** NDArrays alive under the engine's own manager (per-step arrays; should be 0 between steps). */
    public int liveStepArrays() {
        return runner.liveStepArrays();
    }

    public int maxContext() {
        return runner.maxContext();
    }

    /**
     * What is wrong with the engine thread, if anything: it died while the engine should run, or rows are waiting
     * or running and no step has completed for {@code stall-timeout}. Empty while it works, idles or has been
     * stopped on purpose ({@link #drain()}).
     */
    public Optional<String> fault() {
        if (stopped) {
            return Optional.empty();
        }
        Thread t = thread;
        if (t == null || !t.isAlive()) {
            return Optional.of("the engine thread is not running");
        }
        int waiting = waitingRows;
        int running = runningRows;
        long quiet = System.nanoTime() - heartbeatNanos;
        if ((waiting > 0 || running > 0) && quiet > settings.stallTimeout().toNanos()) {
            return Optional.of("no engine step completed for " + TimeUnit.NANOSECONDS.toSeconds(quiet) + " s with "
                    + running + " rows running and " + waiting + " waiting");
        }
        return Optional.empty();
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
        runner.close();
    }

    private void loop() {
        while (true) {
            StepPlan plan = null;
            List<Generation> cut = null;
            try {
                synchronized (lock) {
                    while (!stopped && runner.running().isEmpty() && runner.partial() == null
                            && planner.waitingRows() == 0) {
                        heartbeatNanos = System.nanoTime();
                        try {
                            lock.wait(100);
                        } catch (InterruptedException e) {
                            // Only drain() stops the engine: a thread that quit on a stray interrupt would leave
                            // the queue accepting rows that nobody serves.
                            log.warn("engine thread interrupted; it stops only when drained");
                        }
                    }
                    if (stopped) {
                        cut = planner.takeAllWaiting();
                        waitingRows = 0;
                    } else {
                        plan = planner.schedule(runner.running(), runner.partialRows(), System.nanoTime());
                        waitingRows = planner.waitingRows();
                        // Admitted rows left the queue but join the batch only when their prefill ends: count them
                        // as running now, or a drain that starts during that prefill sees an idle engine and cuts them.
                        runningRows = plan.decode().size() + plan.prefill().size() + runner.partialRows().size();
                    }
                }
                if (cut != null) {
                    cutEverything(cut);
                    return;
                }
                DeviceTimeShare share = deviceShare;
                if (share != null) {
                    share.servingStarts();
                }
                long started = System.nanoTime();
                try {
                    step(plan);
                } finally {
                    if (share != null) {
                        share.servingRan(System.nanoTime() - started);
                    }
                }
            } catch (Throwable t) {
                // Only planning or bookkeeping gets here (step() contains the model's failures): fail what runs.
                log.error("engine loop failed outside a step; failing the running and admitted rows", t);
                abandon(plan);
            } finally {
                synchronized (lock) {
                    runningRows = runner.running().size() + runner.partialRows().size();
                    heartbeatNanos = System.nanoTime();
                    lock.notifyAll();
                }
            }
        }
    }

    private void step(StepPlan plan) {
        try {
            for (StepPlan.Retirement r : plan.retire()) {
                if (r.row().state() == RowState.DECODING) {
                    runner.retire(r.row());
                } else if (runner.partialRows().contains(r.row())) {
                    runner.dropPartial(r.row());
                }
                finish(r.row(), r.reason());
            }
        } catch (Throwable t) {
            log.error("retiring rows failed; failing the running and admitted rows", t);
            abandon(plan);
            return;
        }
        try (NDManager step = runner.newStep()) {
            boolean idle = runner.running().isEmpty();
            boolean decoded = false;
            if (!plan.prefill().isEmpty()) {
                decoded = prefill(step, plan.prefill());
            }
            // Rows just prefilled on an idle engine, with more rows waiting (the rest of a burst, queued while this
            // prefill ran): their first decode step waits for the next step, which prefills the waiting rows in the
            // same pass (a mixed step), rather than reading the weights now for these rows alone.
            boolean deferred = idle && settings.mixedSteps() && waitingRows > 0;
            // A long prompt's passes and the running rows' decode steps share the engine about equally: after a pass
            // that took d, the next waits until the running rows have had about d of decode steps.
            if (runner.partial() != null && (runner.running().isEmpty() || System.nanoTime() >= nextPassNanos)) {
                long t0 = System.nanoTime();
                partialPass(step);
                long t1 = System.nanoTime();
                nextPassNanos = t1 + (t1 - t0);
            }
            if (!decoded && !deferred && !runner.running().isEmpty()) {
                decode(step);
            }
        }
    }

    /**
     * Prefills the admitted rows (a long prompt starts its passes instead), with the running rows' decode step in the
     * same pass where the runner can ({@link ModelRunner#canMix}).
     *
     * @return whether the running rows had their decode step
     */
    private boolean prefill(NDManager step, List<Generation> admitted) {
        List<Generation> rows = new ArrayList<>(admitted.size());
        Generation longRow = null;
        List<Generation> sharing = new ArrayList<>();
        for (Generation g : admitted) {
            try {
                output.start(g);
                if (runner.longPrompt(g) && runner.partial() == null && longRow == null) {
                    longRow = g;
                } else if (longRow != null && ModelRunner.samePrefill(longRow, g)) {
                    sharing.add(g);
                } else {
                    rows.add(g);
                }
            } catch (Throwable t) {
                log.error("preparing a row's output failed; failing the row", t);
                finish(g, FinishReason.ERROR);
            }
        }
        boolean decoded = false;
        if (!rows.isEmpty() && runner.canMix(rows)) {
            mixedNow(step, rows);
            decoded = true;
        } else if (!rows.isEmpty()) {
            prefillNow(step, rows);
        }
        if (longRow != null) {
            runner.startPartial(longRow, sharing);
        }
        return decoded;
    }

    /**
     * The next pass of the row prefilled a pass per step; at its prompt's end it and the rows sharing its prompt take
     * their first tokens.
     */
    private void partialPass(NDManager step) {
        List<Generation> rows = runner.partialRows();
        int[] next;
        try {
            next = runner.continuePartial(step);
        } catch (Throwable t) {
            log.error("a prefill pass of a long prompt failed; failing its {} rows", rows.size(), t);
            failAll(rows);
            return;
        }
        if (next != null) {
            long now = System.nanoTime();
            for (Generation g : rows) {
                output.firstToken(g, now);
            }
            acceptAll(rows, next);
        }
    }

    private void prefillNow(NDManager step, List<Generation> rows) {
        int[] next;
        try {
            next = runner.prefill(step, rows);
        } catch (Throwable t) {
            log.error("prefill of {} rows failed; failing them", rows.size(), t);
            failAll(rows);
            return;
        }
        long now = System.nanoTime();
        for (Generation g : rows) {
            output.firstToken(g, now);
        }
        acceptAll(rows, next);
    }

    /** The newcomers' prefill and the running rows' decode step in one pass. */
    private void mixedNow(NDManager step, List<Generation> rows) {
        List<Generation> decoding = new ArrayList<>(runner.running());
        int[][] next;
        try {
            next = runner.prefillAndDecode(step, rows);
        } catch (Throwable t) {
            // As when a prefill fails on its own: the newcomers fail, the running rows take their step by themselves.
            log.error("prefill of {} rows (with the decode step of {}) failed; failing them", rows.size(),
                    decoding.size(), t);
            failAll(rows);
            decode(step);
            return;
        }
        long now = System.nanoTime();
        for (Generation g : rows) {
            output.firstToken(g, now);
        }
        acceptAll(decoding, next[1]);
        acceptAll(rows, next[0]);
    }

    private void decode(NDManager step) {
        int[] next;
        try {
            next = runner.decode(step);
        } catch (Throwable t) {
            log.error("decode of {} rows failed; failing them", runner.running().size(), t);
            failAll(runner.dropAll());
            return;
        }
        // The batch itself, not a copy: acceptAll reads it whole before it retires anyone.
        acceptAll(runner.running(), next);
    }

    /** Feeds each row its new token; finished rows leave their slots. {@code rows.get(i)} took {@code next[i]}. */
    private void acceptAll(List<Generation> rows, int[] next) {
        List<Generation> done = null;
        for (int i = 0; i < rows.size(); i++) {
            Generation g = rows.get(i);
            FinishReason reason;
            try {
                reason = g.cancelled() ? FinishReason.CANCELLED : output.accept(g, next[i], runner.contextFull(g));
            } catch (Throwable t) {
                log.error("a row's output failed; failing the row", t);
                reason = FinishReason.ERROR;
            }
            if (reason != null) {
                if (done == null) {
                    done = new ArrayList<>();
                }
                done.add(g);
                finish(g, reason);
            }
        }
        if (done != null) {
            for (Generation g : done) {
                runner.retire(g);
            }
        }
    }

    /**
     * Finishes a row: its tokens go back to the budget, its lease is released, its listener hears why. A row
     * already finished is left alone, so a failure path may sweep rows that partly finished.
     */
    private void finish(Generation g, FinishReason reason) {
        planner.release(g);
        output.finish(g, reason);
    }

    /**
     * After a failure the step could not contain: rows it meant to retire finish as planned, and every other row
     * it touched, running or admitted, fails. The batch is left empty and nothing is left unfinished.
     */
    private void abandon(StepPlan plan) {
        if (plan != null) {
            for (StepPlan.Retirement r : plan.retire()) {
                finish(r.row(), r.reason());
            }
        }
        failAll(runner.dropAll());
        if (plan != null) {
            failAll(plan.prefill());
        }
    }

    private void failAll(List<Generation> rows) {
        for (Generation g : rows) {
            finish(g, FinishReason.ERROR);
        }
    }

    private void cutEverything(List<Generation> waiting) {
        for (Generation g : runner.dropAll()) {
            finish(g, FinishReason.SHUTDOWN);
        }
        for (Generation g : waiting) {
            finish(g, FinishReason.SHUTDOWN);
        }
    }
}

package dev.reftserver.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Decides each engine step, with no model in sight: which waiting rows to admit for prefill, which rows to retire
 * as cancelled or timed out, and which running rows decode. It owns the waiting queue and the KV token budget; the
 * running batch belongs to the {@link ModelRunner} and is only read here.
 *
 * <p>Fairness: waiting rows sit in one queue per tenant and admission takes one row per tenant in turn, so a
 * tenant's burst of hundreds of requests delays another tenant's single request by at most one admission round.
 * The same holds at the door: when a burst has filled the queue, a tenant below its equal share of the queue
 * still gets in (see {@link #withinFairShare}); only the burst's overflow is refused.
 * Round-robin over requests (rather than a virtual token counter) is enough here because every row's cost is
 * bounded by max_tokens and the decode cost per row is the same for every tenant.
 *
 * <p>Budget: an admitted row reserves prompt + max_tokens KV tokens until it finishes. The KV cache keeps the
 * running rows contiguous at the longest one's length (so decode reads one view), so admission counts what the
 * cache will hold: running rows x the longest reservation must stay within {@code kvCacheTokens}. Short rows share
 * the budget freely; a long row admits fewer rows beside it. An idle engine still admits one row over budget, or a
 * request larger than the budget would wait forever.
 *
 * <p>Not thread-safe: {@link #offer} and {@link #schedule} run under the scheduler's lock; {@link #release} and
 * the reservation count are the engine thread's, which is also the only caller of {@link #schedule}.
 */
public final class StepPlanner {

    private final EngineSettings settings;
    /** Prompt positions one prefill pass takes: a longer prompt is prefilled a pass per step, one row at a time. */
    private final int passTokens;
    private final Map<String, ArrayDeque<Generation>> waiting = new HashMap<>();
    private final ArrayDeque<String> tenantTurns = new ArrayDeque<>();
    private int waitingRows;
    private volatile long reservedTokens;

    public StepPlanner(EngineSettings settings) {
        this(settings, Integer.MAX_VALUE);
    }

    /**
     * @param passTokens prompt positions one prefill pass takes; rows with longer prompts are admitted one at a
     *                   time, as the engine prefills such a row a pass per step
     */
    public StepPlanner(EngineSettings settings, int passTokens) {
        this.settings = settings;
        this.passTokens = passTokens;
    }

    /**
     * Queues the rows of one request, all or none.
     *
     * @return false when the queue is full for this tenant (nothing was queued)
     */
    public boolean offer(List<Generation> rows, long now) {
        if (rows.isEmpty()) {
            return true;
        }
        if (waitingRows + rows.size() > settings.maxQueue() && !withinFairShare(rows.get(0).tenant(), rows.size())) {
            return false;
        }
        for (Generation g : rows) {
            g.enqueuedNanos = now;
            g.state(RowState.WAITING);
            ArrayDeque<Generation> q = waiting.computeIfAbsent(g.tenant(), t -> new ArrayDeque<>());
            if (q.isEmpty() && !tenantTurns.contains(g.tenant())) {
                tenantTurns.addLast(g.tenant());
            }
            q.addLast(g);
            waitingRows++;
        }
        return true;
    }

    /**
     * Whether a full queue still takes {@code n} more rows of {@code tenant}: yes while the tenant's waiting rows,
     * these included, stay within an equal share of max-queue among the tenants waiting, so one tenant's burst
     * cannot lock the others out of the queue. Such admissions stop at twice max-queue, which bounds the queue.
     */
    private boolean withinFairShare(String tenant, int n) {
        ArrayDeque<Generation> own = waiting.get(tenant);
        int held = own == null ? 0 : own.size();
        int tenants = waiting.size() + (own == null ? 1 : 0);
        return (long) held + n <= settings.maxQueue() / tenants && (long) waitingRows + n <= 2L * settings.maxQueue();
    }

    /**
     * Plans one step. Running rows that were cancelled or passed their deadline retire (their slots and tokens are
     * free for this step's admissions); then waiting rows are admitted one tenant at a time while slots and the
     * token budget allow, and waiting rows met cancelled or expired on the way retire too. Admitted rows leave the
     * queue, reserve their tokens and turn PREFILLING.
     *
     * @param running the running batch in slot order
     */
    public StepPlan schedule(List<Generation> running, long now) {
        return schedule(running, List.of(), now);
    }

    /**
     * As {@link #schedule(List, long)}, beside the rows of a long prompt being prefilled a pass per step
     * ({@code partial}: the row and the rows that share its prompt, or empty): each holds a slot and its
     * reservation, and retires when cancelled or expired; while any stays no other long prompt is admitted.
     */
    public StepPlan schedule(List<Generation> running, List<Generation> partial, long now) {
        List<StepPlan.Retirement> retire = new ArrayList<>(0);
        List<Generation> decode = new ArrayList<>(running.size());
        for (Generation g : running) {
            if (g.cancelled() || g.expired(now)) {
                retire.add(new StepPlan.Retirement(g, g.cancelled() ? FinishReason.CANCELLED : FinishReason.TIMEOUT));
                release(g);
            } else {
                decode.add(g);
            }
        }
        long longest = 0;
        for (Generation g : decode) {
            longest = Math.max(longest, g.reservedTokens);
        }
        int partialStaying = 0;
        for (Generation g : partial) {
            if (g.cancelled() || g.expired(now)) {
                retire.add(new StepPlan.Retirement(g, g.cancelled() ? FinishReason.CANCELLED : FinishReason.TIMEOUT));
                release(g);
            } else {
                partialStaying++;
                longest = Math.max(longest, g.reservedTokens);
            }
        }
        List<Generation> prefill = admit(decode.size() + partialStaying, longest, partialStaying > 0, now, retire);
        return new StepPlan(retire, prefill, decode);
    }

    /**
     * Takes waiting rows one tenant at a time while slots and the token budget allow.
     *
     * @param longest the largest reservation among the {@code staying} running rows
     */
    private List<Generation> admit(int staying, long longest, boolean longAdmitted, long now,
            List<StepPlan.Retirement> retire) {
        List<Generation> out = new ArrayList<>(0);
        int free = settings.maxBatchSize() - staying;
        int turnsWithoutProgress = 0;
        while (out.size() < free && !tenantTurns.isEmpty() && turnsWithoutProgress < tenantTurns.size()) {
            String tenant = tenantTurns.pollFirst();
            ArrayDeque<Generation> q = waiting.get(tenant);
            Generation g = q.peekFirst();
            if (g.cancelled() || g.expired(now)) {
                q.pollFirst();
                waitingRows--;
                retire.add(new StepPlan.Retirement(g, g.cancelled() ? FinishReason.CANCELLED : FinishReason.TIMEOUT));
                turnsWithoutProgress = 0;
            } else if (longAdmitted && g.prompt().length > passTokens) {
                // One long prompt at a time: the tenant's queue waits behind its long row, others go on.
                turnsWithoutProgress++;
            } else if (fits(staying + out.size() + 1, Math.max(longest, g.kvTokens()))
                    || staying == 0 && out.isEmpty()) {
                boolean isLong = g.prompt().length > passTokens;
                longAdmitted |= isLong;
                longest = Math.max(longest, take(q, out));
                turnsWithoutProgress = 0;
                // The other choices of a long prompt's request come with it: they share its passes.
                while (isLong && !q.isEmpty() && out.size() < free && ModelRunner.samePrefill(g, q.peekFirst())
                        && fits(staying + out.size() + 1, Math.max(longest, q.peekFirst().kvTokens()))) {
                    longest = Math.max(longest, take(q, out));
                }
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

    /** Admits the head of {@code q} into {@code out}: it reserves its tokens and turns PREFILLING. */
    private long take(ArrayDeque<Generation> q, List<Generation> out) {
        Generation g = q.pollFirst();
        waitingRows--;
        g.reservedTokens = g.kvTokens();
        reservedTokens += g.reservedTokens;
        g.state(RowState.PREFILLING);
        out.add(g);
        return g.reservedTokens;
    }

    /** Whether the cache holds {@code rows} rows of {@code longest} tokens each within the budget. */
    private boolean fits(long rows, long longest) {
        return rows * longest <= settings.kvCacheTokens();
    }

    /** Gives back an admitted row's tokens when it finishes; a second call (or a never admitted row) is a no-op. */
    public void release(Generation g) {
        reservedTokens -= g.reservedTokens;
        g.reservedTokens = 0;
    }

    /** Empties the queue (shutdown): the rows that were waiting, for the caller to finish. */
    public List<Generation> takeAllWaiting() {
        List<Generation> out = new ArrayList<>(waitingRows);
        for (ArrayDeque<Generation> q : waiting.values()) {
            out.addAll(q);
        }
        waiting.clear();
        tenantTurns.clear();
        waitingRows = 0;
        return out;
    }

    public int waitingRows() {
        return waitingRows;
    }

    /** Tokens reserved by admitted rows that have not finished. */
    public long reservedTokens() {
        return reservedTokens;
    }
}

package dev.reftserver.engine;

import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.intervention.ScaledBundle;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One row of generation: a prompt, how to sample it, the interventions its prefill applies (none, one, or a
 * composition with scales), the log-probabilities it reports, and where its text goes. Everything but
 * {@link #cancel()} is touched only by the engine thread once submitted.
 *
 * <p>The row owns the lease that keeps its interventions loaded (one lease for all the bundles of a composition):
 * the engine releases it exactly once, when it finishes the row for any reason, so a bundle that is evicted or
 * deleted meanwhile stays alive under a running prefill however early the client goes away. A row the engine
 * refused at submit was never taken: its lease stays with the caller.
 */
public final class Generation {

    private static final Logger log = LoggerFactory.getLogger(Generation.class);

    private final String tenant;
    private final int[] prompt;
    private final SamplingParams params;
    private final List<ScaledBundle> interventions;
    private final LogprobsOptions logprobs;
    private final AutoCloseable lease;
    private final GenerationListener listener;
    private final long deadlineNanos;
    private volatile boolean cancelled;
    private volatile RowState state = RowState.WAITING;

    // Engine-thread state.
    final Sampler sampler;
    final LogitsProcessor processor;
    final StopMatcher stops;
    /** Log-probabilities of the token the last sampling step picked, until {@code accept} reports them. */
    TokenLogprobs pendingLogprobs;
    /** The prompt's log-probabilities from the prefill (echo), until the output processor reports them. */
    TokenLogprobs[] pendingPromptLogprobs;
    TextTokenizer.StreamDecoder decoder;
    int lastToken = -1;
    /** Every token fed back so far, in order (the last is {@link #lastToken}); grown as the row runs. */
    private int[] fed = new int[16];
    private int fedCount;
    int generated;
    long enqueuedNanos;
    long firstTokenNanos;
    /** KV tokens the planner reserved for this row while it runs; 0 once given back. */
    long reservedTokens;
    /** Cache slot while PREFILLING or DECODING. */
    int slot = -1;

    /**
     * A row with no lease to release: its intervention (if any) is kept alive by the caller until it finishes.
     *
     * @param intervention the bundle applied during this row's prefill, or null for the base model
     * @param timeoutNanos server-side limit from submission to finish
     */
    public Generation(String tenant, int[] prompt, SamplingParams params, LoadedBundle intervention,
            GenerationListener listener, long timeoutNanos) {
        this(tenant, prompt, params, intervention, null, listener, timeoutNanos);
    }

    /**
     * A row of one bundle (or none), without penalties or log-probabilities.
     *
     * @param intervention the bundle applied during this row's prefill, or null for the base model
     * @param lease        what keeps {@code intervention} loaded, closed once when the row finishes; null for none.
     *     Rows that share one lease each take a share of it ({@link SharedLease}).
     * @param timeoutNanos server-side limit from submission to finish
     */
    public Generation(String tenant, int[] prompt, SamplingParams params, LoadedBundle intervention,
            AutoCloseable lease, GenerationListener listener, long timeoutNanos) {
        this(tenant, prompt, params, Penalties.NONE, LogprobsOptions.NONE,
                intervention == null ? List.of() : List.of(new ScaledBundle(intervention, 1f)), lease, listener,
                timeoutNanos);
    }

    /**
     * @param penalties     edits to the logits before sampling
     * @param logprobs      what log-probabilities the listener receives
     * @param interventions the bundles applied during this row's prefill, in order, with their scales (empty for
     *     the base model)
     * @param lease         what keeps every one of {@code interventions} loaded, closed once when the row finishes;
     *     null when the caller keeps them alive itself. Rows that share one lease each take a share of it
     *     ({@link SharedLease}).
     * @param timeoutNanos  server-side limit from submission to finish
     */
    public Generation(String tenant, int[] prompt, SamplingParams params, Penalties penalties,
            LogprobsOptions logprobs, List<ScaledBundle> interventions, AutoCloseable lease,
            GenerationListener listener, long timeoutNanos) {
        this.tenant = tenant;
        this.prompt = prompt.clone();
        this.params = params;
        this.interventions = List.copyOf(interventions);
        this.logprobs = logprobs;
        this.lease = lease;
        this.listener = listener;
        this.deadlineNanos = System.nanoTime() + timeoutNanos;
        this.sampler = new Sampler(params);
        this.processor = new LogitsProcessor(penalties, this.prompt);
        this.stops = new StopMatcher(params.stop());
    }

    public String tenant() {
        return tenant;
    }

    /** Takes {@code token} as the row's next input. */
    void feed(int token) {
        if (fedCount == fed.length) {
            fed = Arrays.copyOf(fed, 2 * fed.length);
        }
        fed[fedCount++] = token;
        lastToken = token;
    }

    /** What the row's cache holds while it decodes: the prompt, then every token fed back but the last. */
    int[] cachedTokens() {
        int[] out = Arrays.copyOf(prompt, prompt.length + Math.max(fedCount - 1, 0));
        System.arraycopy(fed, 0, out, prompt.length, Math.max(fedCount - 1, 0));
        return out;
    }

    public int[] prompt() {
        return prompt;
    }

    public SamplingParams params() {
        return params;
    }

    public List<ScaledBundle> interventions() {
        return interventions;
    }

    public LogprobsOptions logprobs() {
        return logprobs;
    }

    /** Whether sampling needs this row's logits on the host (penalties, bias or log-probabilities). */
    boolean needsHostLogits() {
        return logprobs.any() || !processor.isNone();
    }

    GenerationListener listener() {
        return listener;
    }

    public RowState state() {
        return state;
    }

    void state(RowState next) {
        state = next;
    }

    /** Frees the row at the engine's next step (e.g. the client disconnected). */
    public void cancel() {
        cancelled = true;
    }

    public boolean cancelled() {
        return cancelled;
    }

    boolean expired(long now) {
        return now - deadlineNanos > 0;
    }

    /** KV tokens the row may fill: its prompt plus everything it may generate. */
    long kvTokens() {
        return (long) prompt.length + params.maxTokens();
    }

    /** Closes the lease; the engine calls it once, when the row turns FINISHED. */
    void releaseLease() {
        if (lease == null) {
            return;
        }
        try {
            lease.close();
        } catch (Throwable e) {
            log.warn("releasing a row's lease failed", e);
        }
    }
}

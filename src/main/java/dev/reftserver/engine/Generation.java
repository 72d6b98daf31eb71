package dev.reftserver.engine;

import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.intervention.ScaledBundle;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.List;

/**
 * One row of generation: a prompt, how to sample it, the interventions its prefill applies (none, one, or a
 * composition with scales), the log-probabilities it reports, and where its text goes. Everything but {@link #cancel()} is touched only by the engine thread once submitted.
 */
public final class Generation {

    private final String tenant;
    private final int[] prompt;
    private final SamplingParams params;
    private final List<ScaledBundle> interventions;
    private final LogprobsOptions logprobs;
    private final GenerationListener listener;
    private final long deadlineNanos;
    private volatile boolean cancelled;

    // Engine-thread state.
    final Sampler sampler;
    final LogitsProcessor processor;
    final StopMatcher stops;
    /** Log-probabilities of the token the last sampling step picked, until {@code accept} reports them. */
    TokenLogprobs pendingLogprobs;
    TextTokenizer.StreamDecoder decoder;
    int lastToken = -1;
    int generated;
    long enqueuedNanos;
    long firstTokenNanos;

    /**
     * @param intervention the bundle applied during this row's prefill, or null for the base model; the caller
     *     keeps it alive until the row finishes
     * @param timeoutNanos server-side limit from submission to finish
     */
    public Generation(String tenant, int[] prompt, SamplingParams params, LoadedBundle intervention,
            GenerationListener listener, long timeoutNanos) {
        this(tenant, prompt, params, Penalties.NONE, LogprobsOptions.NONE,
                intervention == null ? List.of() : List.of(new ScaledBundle(intervention, 1f)), listener, timeoutNanos);
    }

    /**
     * @param penalties     edits to the logits before sampling
     * @param logprobs      what log-probabilities the listener receives
     * @param interventions the bundles applied during this row's prefill, in order, with their scales (empty for
     *     the base model); the caller keeps every one alive until the row finishes
     * @param timeoutNanos  server-side limit from submission to finish
     */
    public Generation(String tenant, int[] prompt, SamplingParams params, Penalties penalties,
            LogprobsOptions logprobs, List<ScaledBundle> interventions, GenerationListener listener,
            long timeoutNanos) {
        this.tenant = tenant;
        this.prompt = prompt.clone();
        this.params = params;
        this.interventions = List.copyOf(interventions);
        this.logprobs = logprobs;
        this.listener = listener;
        this.deadlineNanos = System.nanoTime() + timeoutNanos;
        this.sampler = new Sampler(params);
        this.processor = new LogitsProcessor(penalties, this.prompt);
        this.stops = new StopMatcher(params.stop());
    }

    public String tenant() {
        return tenant;
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
}

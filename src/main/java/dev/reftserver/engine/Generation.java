package dev.reftserver.engine;

import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.tokenizer.TextTokenizer;

/**
 * One row of generation: a prompt, how to sample it, the intervention its prefill applies (or none), and where its
 * text goes. Everything but {@link #cancel()} is touched only by the engine thread once submitted.
 */
public final class Generation {

    private final String tenant;
    private final int[] prompt;
    private final SamplingParams params;
    private final LoadedBundle intervention;
    private final GenerationListener listener;
    private final long deadlineNanos;
    private volatile boolean cancelled;

    // Engine-thread state.
    final Sampler sampler;
    final StopMatcher stops;
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
        this.tenant = tenant;
        this.prompt = prompt.clone();
        this.params = params;
        this.intervention = intervention;
        this.listener = listener;
        this.deadlineNanos = System.nanoTime() + timeoutNanos;
        this.sampler = new Sampler(params);
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

    public LoadedBundle intervention() {
        return intervention;
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

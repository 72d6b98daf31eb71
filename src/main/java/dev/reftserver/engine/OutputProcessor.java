package dev.reftserver.engine;

import dev.reftserver.tokenizer.TextTokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns sampled tokens into a row's output: reports log-probabilities, detokenizes incrementally, matches EOS, stop
 * strings and the length limits, streams the text that became final to the row's listener, and finishes rows.
 * Engine thread only, never under the scheduler's lock (listeners may take their time handing data on).
 */
final class OutputProcessor {

    private static final Logger log = LoggerFactory.getLogger(OutputProcessor.class);

    private final TextTokenizer tokenizer;
    private final EngineMetrics metrics;
    private final int[] eos;

    OutputProcessor(TextTokenizer tokenizer, EngineMetrics metrics) {
        this.tokenizer = tokenizer;
        this.metrics = metrics;
        this.eos = tokenizer.eosIds();
    }

    /** Readies a newcomer's detokenizer, which continues its prompt's text. */
    void start(Generation g) {
        g.decoder = tokenizer.newStreamDecoder(g.prompt());
    }

    /** Records the newcomer's first token time, once its prefill has run. */
    void firstToken(Generation g, long now) {
        g.firstTokenNanos = now;
        metrics.firstToken(g.tenant(), now - g.enqueuedNanos, g.prompt().length);
    }

    /**
     * Feeds a row its new token and streams the text it completes.
     *
     * @param contextFull whether the row's cache slot is at the model's context (it can take no further token)
     * @return why the row is done, or null when it goes on
     */
    FinishReason accept(Generation g, int token, boolean contextFull) {
        if (g.pendingPromptLogprobs != null) {
            TokenLogprobs[] prompt = g.pendingPromptLogprobs;
            g.pendingPromptLogprobs = null;
            g.listener().onPromptLogprobs(prompt);
        }
        if (g.params().maxTokens() == 0) {
            // A row that asked for no tokens (scoring its prompt with echo) ends with its prefill.
            g.pendingLogprobs = null;
            return FinishReason.LENGTH;
        }
        g.generated++;
        metrics.generatedToken(g.tenant());
        // The accepted token feeds the penalties' history; its log-probabilities go out before the text it completes.
        g.processor.accept(token);
        if (g.pendingLogprobs != null) {
            TokenLogprobs logprobs = g.pendingLogprobs;
            g.pendingLogprobs = null;
            g.listener().onTokenLogprobs(logprobs);
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
        if (g.generated >= g.params().maxTokens() || contextFull) {
            emit(g, g.stops.append(g.decoder.flush()));
            if (g.stops.stopped()) {
                return FinishReason.STOP;
            }
            emit(g, g.stops.flush());
            return FinishReason.LENGTH;
        }
        g.feed(token);
        return null;
    }

    private static void emit(Generation g, String text) {
        if (!text.isEmpty()) {
            g.listener().onText(text);
        }
    }

    /**
     * Ends a row, exactly once: releases its lease, tells its listener why, counts it. Never throws: a failing
     * listener is logged and the row is finished all the same.
     */
    void finish(Generation g, FinishReason reason) {
        if (g.state() == RowState.FINISHED) {
            return;
        }
        g.state(RowState.FINISHED);
        // Before the listener hears of it: whoever waits on the row's end may count on the bundle being let go.
        g.releaseLease();
        try {
            g.listener().onFinish(reason, g.prompt().length, g.generated);
        } catch (Throwable t) {
            log.warn("a row's listener failed on finish", t);
        }
        try {
            if (g.firstTokenNanos > 0 && g.generated > 1) {
                metrics.finished(g.tenant(), reason, (System.nanoTime() - g.firstTokenNanos) / (g.generated - 1));
            } else {
                metrics.finished(g.tenant(), reason, -1);
            }
        } catch (Throwable t) {
            log.warn("counting a finished row failed", t);
        }
    }
}

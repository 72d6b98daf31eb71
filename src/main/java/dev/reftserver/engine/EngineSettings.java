package dev.reftserver.engine;

import java.time.Duration;

/**
 * @param maxBatchSize     rows decoded together (slots in the KV cache)
 * @param maxQueue         waiting rows before new requests get 503
 * @param kvCacheTokens    KV-cache budget in tokens (from the memory budget): running rows x the longest row's
 *     prompt + max_tokens, since the cache holds every running row at the longest one's length
 * @param maxContext       positions one row may hold (prompt + max_tokens); 0 = the model's context, capped to
 *     the budget
 * @param requestTimeout   server-side limit from submission to the last token
 * @param shutdownGrace    how long shutdown waits for in-flight rows before cutting them
 * @param stallTimeout     how long rows may wait or run with no engine step completing before the engine counts
 *     as stuck (liveness goes down)
 * @param mixedSteps       prefill rows that join a running batch in the same forward pass as its decode step
 */
public record EngineSettings(int maxBatchSize, int maxQueue, long kvCacheTokens, int maxContext,
        Duration requestTimeout, Duration shutdownGrace, Duration stallTimeout, boolean mixedSteps) {

    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(120);

    public EngineSettings {
        if (maxBatchSize < 1 || kvCacheTokens < 1 || maxContext < 0) {
            throw new IllegalArgumentException("engine settings need a batch of at least 1 row, a KV budget of at "
                    + "least 1 token and a max context of 0 (the model's) or more");
        }
    }

    /** Settings with mixed steps. */
    public EngineSettings(int maxBatchSize, int maxQueue, long kvCacheTokens, int maxContext,
            Duration requestTimeout, Duration shutdownGrace, Duration stallTimeout) {
        this(maxBatchSize, maxQueue, kvCacheTokens, maxContext, requestTimeout, shutdownGrace, stallTimeout, true);
    }

    /** Settings with the model's context (capped to the budget). */
    public EngineSettings(int maxBatchSize, int maxQueue, long kvCacheTokens, Duration requestTimeout,
            Duration shutdownGrace, Duration stallTimeout) {
        this(maxBatchSize, maxQueue, kvCacheTokens, 0, requestTimeout, shutdownGrace, stallTimeout);
    }

    /** A row's context: the configured one, else the model's {@code modelContext} capped to the budget. */
    public int context(int modelContext) {
        return maxContext > 0 ? maxContext : (int) Math.min(modelContext, kvCacheTokens);
    }

    /** Settings with the default stall timeout. */
    public EngineSettings(int maxBatchSize, int maxQueue, long kvCacheTokens, Duration requestTimeout,
            Duration shutdownGrace) {
        this(maxBatchSize, maxQueue, kvCacheTokens, requestTimeout, shutdownGrace, DEFAULT_STALL_TIMEOUT);
    }
}

package dev.reftserver.engine;

import java.time.Duration;

/**
 * @param maxBatchSize     rows decoded together (slots in the KV cache)
 * @param maxQueue         waiting rows before new requests get 503
 * @param kvCacheTokens    token budget of the running rows: the sum of (prompt + max_tokens) over admitted rows
 * @param requestTimeout   server-side limit from submission to the last token
 * @param shutdownGrace    how long shutdown waits for in-flight rows before cutting them
 * @param stallTimeout     how long rows may wait or run with no engine step completing before the engine counts
 *     as stuck (liveness goes down)
 */
public record EngineSettings(int maxBatchSize, int maxQueue, int kvCacheTokens, Duration requestTimeout,
        Duration shutdownGrace, Duration stallTimeout) {

    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(120);

    /** Settings with the default stall timeout. */
    public EngineSettings(int maxBatchSize, int maxQueue, int kvCacheTokens, Duration requestTimeout,
            Duration shutdownGrace) {
        this(maxBatchSize, maxQueue, kvCacheTokens, requestTimeout, shutdownGrace, DEFAULT_STALL_TIMEOUT);
    }
}

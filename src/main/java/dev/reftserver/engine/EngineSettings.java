package dev.reftserver.engine;

import java.time.Duration;

/**
 * @param maxBatchSize     rows decoded together (slots in the KV cache)
 * @param maxQueue         waiting rows before new requests get 503
 * @param kvCacheTokens    token budget of the running rows: the sum of (prompt + max_tokens) over admitted rows
 * @param requestTimeout   server-side limit from submission to the last token
 * @param shutdownGrace    how long shutdown waits for in-flight rows before cutting them
 */
public record EngineSettings(int maxBatchSize, int maxQueue, int kvCacheTokens, Duration requestTimeout,
        Duration shutdownGrace) {
}

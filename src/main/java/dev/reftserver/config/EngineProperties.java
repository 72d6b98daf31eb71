package dev.reftserver.config;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * {@code reft.engine.*}: the serving engine's limits.
 *
 * @param maxBatchSize   rows decoded together
 * @param maxQueue       waiting rows before 503
 * @param kvCacheMemory  memory the KV cache may use: a size ({@code 4GB}) or a fraction of physical memory
 *     ({@code 0.25}, the default); see {@link KvCacheBudget}
 * @param maxContext     positions one row may hold (prompt + max_tokens); 0 = the model's context capped to what
 *     the budget holds for one row
 * @param requestTimeout server-side limit for one request
 * @param shutdownGrace  how long shutdown lets in-flight rows finish
 * @param maxN           largest {@code n}, and largest {@code n} x prompts, of one request
 * @param stallTimeout   how long rows may wait or run with no engine step completing before liveness goes down
 * @param mixedSteps     prefill rows that join a running batch in the same forward pass as its decode step (one
 *     read of the weights for both); false runs the prefill and the decode step one after the other
 */
@ConfigurationProperties("reft.engine")
public record EngineProperties(
        @DefaultValue("16") int maxBatchSize,
        @DefaultValue("256") int maxQueue,
        @DefaultValue(KvCacheBudget.DEFAULT_MEMORY) String kvCacheMemory,
        @DefaultValue("0") int maxContext,
        @DefaultValue("120s") Duration requestTimeout,
        @DefaultValue("30s") Duration shutdownGrace,
        @DefaultValue("16") int maxN,
        @DefaultValue("120s") Duration stallTimeout,
        @DefaultValue("true") boolean mixedSteps) {
}

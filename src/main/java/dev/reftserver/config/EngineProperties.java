package dev.reftserver.config;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * {@code reft.engine.*}: the serving engine's limits.
 *
 * @param maxBatchSize   rows decoded together
 * @param maxQueue       waiting rows before 503
 * @param kvCacheTokens  token budget for running rows (sum of prompt + max_tokens); 0 = max-batch-size x context
 * @param requestTimeout server-side limit for one request
 * @param shutdownGrace  how long shutdown lets in-flight rows finish
 * @param maxN           largest {@code n}, and largest {@code n} x prompts, of one request
 */
@ConfigurationProperties("reft.engine")
public record EngineProperties(
        @DefaultValue("16") int maxBatchSize,
        @DefaultValue("256") int maxQueue,
        @DefaultValue("0") int kvCacheTokens,
        @DefaultValue("120s") Duration requestTimeout,
        @DefaultValue("30s") Duration shutdownGrace,
        @DefaultValue("16") int maxN) {
}

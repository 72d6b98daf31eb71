package dev.reftserver.engine;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The engine's meters, all in the {@code reft_} namespace. Per-tenant series go through {@code tenantTag}, which
 * keeps the tag's cardinality bounded. Tagged meters are registered once and kept, so the engine thread never
 * looks a meter up in the registry per token.
 */
public final class EngineMetrics {

    private final MeterRegistry registry;
    private final Function<String, String> tenantTag;
    private final Timer ttft;
    private final Timer tpot;
    private final Timer prefillTime;
    private final Timer decodeTime;
    private final Timer mixedTime;
    private final DistributionSummary batchSize;
    private final DistributionSummary prefillBatch;
    private final Counter promptTokens;
    private final Counter generatedTokens;
    private final Counter rejected;
    private final Map<FinishReason, Counter> finishedByReason = new EnumMap<>(FinishReason.class);
    /** Keyed by tag value, so at most the tag policy's bound plus {@code other}. */
    private final Map<String, TenantCounters> tenants = new ConcurrentHashMap<>();

    private record TenantCounters(Counter promptTokens, Counter generatedTokens) {
    }

    public EngineMetrics(MeterRegistry registry, Function<String, String> tenantTag) {
        this.registry = registry;
        this.tenantTag = tenantTag;
        this.ttft = Timer.builder("reft.time.to.first.token")
                .description("Time from queueing a row to its first generated token")
                .serviceLevelObjectives(ms(25), ms(50), ms(100), ms(250), ms(500), ms(1000), ms(2500), ms(5000))
                .register(registry);
        this.tpot = Timer.builder("reft.time.per.output.token")
                .description("Mean time between a row's generated tokens after the first")
                .serviceLevelObjectives(ms(2), ms(5), ms(10), ms(20), ms(50), ms(100), ms(250))
                .register(registry);
        this.prefillTime = Timer.builder("reft.engine.prefill").description("Duration of one batched prefill")
                .serviceLevelObjectives(ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(1000))
                .register(registry);
        this.decodeTime = Timer.builder("reft.engine.decode.step").description("Duration of one batched decode step")
                .serviceLevelObjectives(ms(2), ms(5), ms(10), ms(20), ms(50), ms(100))
                .register(registry);
        this.mixedTime = Timer.builder("reft.engine.mixed.step")
                .description("Duration of one step that prefills new rows and decodes the running ones in one pass")
                .serviceLevelObjectives(ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(1000))
                .register(registry);
        this.batchSize = DistributionSummary.builder("reft.batch.size").description("Rows per decode step")
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64).register(registry);
        this.prefillBatch = DistributionSummary.builder("reft.prefill.batch.size")
                .description("Rows per prefill").serviceLevelObjectives(1, 2, 4, 8, 16, 32).register(registry);
        this.promptTokens = Counter.builder("reft.prompt.tokens").description("Prompt tokens prefilled")
                .register(registry);
        this.generatedTokens = Counter.builder("reft.generated.tokens").description("Tokens generated")
                .register(registry);
        this.rejected = Counter.builder("reft.queue.rejected").description("Requests refused with 503: queue full")
                .register(registry);
        for (FinishReason reason : FinishReason.values()) {
            finishedByReason.put(reason, Counter.builder("reft.rows.finished").tag("reason", reason.wire())
                    .description("Rows finished, by finish reason").register(registry));
        }
    }

    /** Meters for code paths without Spring (benchmarks, unit tests). */
    public static EngineMetrics standalone() {
        return new EngineMetrics(new SimpleMeterRegistry(), t -> t);
    }

    private static Duration ms(long v) {
        return Duration.ofMillis(v);
    }

    void bind(Scheduler s) {
        Gauge.builder("reft.queue.depth", s, Scheduler::waitingRows).description("Rows waiting for admission")
                .register(registry);
        Gauge.builder("reft.running.rows", s, Scheduler::runningRows).description("Rows in the running batch")
                .register(registry);
        Gauge.builder("reft.kv.cache.used.tokens", s, Scheduler::kvCacheUsedTokens)
                .description("KV-cache tokens reserved by running rows").register(registry);
        Gauge.builder("reft.kv.cache.capacity.tokens", s, Scheduler::kvCacheCapacityTokens)
                .description("KV-cache tokens allocated").register(registry);
        Gauge.builder("reft.kv.cache.bytes", s, Scheduler::kvCacheBytes)
                .description("Bytes of the preallocated KV cache").baseUnit("bytes").register(registry);
    }

    /** @param rows rows whose prefill ended (0 for a pass of a long prompt that has more to go) */
    void prefill(int rows, long tokens, long nanos) {
        if (rows > 0) {
            prefillBatch.record(rows);
        }
        promptTokens.increment(tokens);
        prefillTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    void decodeStep(int rows, long nanos) {
        batchSize.record(rows);
        decodeTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** A step that prefilled {@code rows} of {@code tokens} prompt tokens and decoded {@code decodeRows}. */
    void mixedStep(int rows, long tokens, int decodeRows, long nanos) {
        prefillBatch.record(rows);
        promptTokens.increment(tokens);
        batchSize.record(decodeRows);
        mixedTime.record(nanos, TimeUnit.NANOSECONDS);
    }

    void firstToken(String tenant, long nanos, int promptLength) {
        ttft.record(nanos, TimeUnit.NANOSECONDS);
        tenantCounters(tenant).promptTokens().increment(promptLength);
    }

    void generatedToken(String tenant) {
        generatedTokens.increment();
        tenantCounters(tenant).generatedTokens().increment();
    }

    void finished(String tenant, FinishReason reason, long nanosPerToken) {
        if (nanosPerToken > 0) {
            tpot.record(nanosPerToken, TimeUnit.NANOSECONDS);
        }
        finishedByReason.get(reason).increment();
    }

    private TenantCounters tenantCounters(String tenant) {
        return tenants.computeIfAbsent(tenantTag.apply(tenant), tag -> new TenantCounters(
                Counter.builder("reft.tenant.prompt.tokens").tag("tenant", tag)
                        .description("Prompt tokens per tenant").register(registry),
                Counter.builder("reft.tenant.generated.tokens").tag("tenant", tag)
                        .description("Generated tokens per tenant").register(registry)));
    }

    void rejected() {
        rejected.increment();
    }
}

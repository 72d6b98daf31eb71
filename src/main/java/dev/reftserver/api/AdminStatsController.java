package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code GET /admin/stats}: the engine's live gauges and token counters as one small JSON object, read from the
 * same meters {@code /actuator/prometheus} publishes, so a dashboard need not parse Prometheus text. Rates are
 * the reader's to derive: two reads' {@code generated_tokens} over their {@code timestamp_ms} difference.
 */
@RestController
@Tag(name = "Admin: stats", description = "The engine's live state; needs the admin key")
class AdminStatsController {

    record StatsView(
            String object,
            @JsonProperty("timestamp_ms") long timestampMs,
            @JsonProperty("queue_depth") long queueDepth,
            @JsonProperty("running_rows") long runningRows,
            @JsonProperty("prompt_tokens") long promptTokens,
            @JsonProperty("generated_tokens") long generatedTokens,
            @JsonProperty("kv_cache_used_tokens") long kvCacheUsedTokens,
            @JsonProperty("kv_cache_capacity_tokens") long kvCacheCapacityTokens) {
    }

    private final MeterRegistry meters;

    AdminStatsController(MeterRegistry meters) {
        this.meters = meters;
    }

    @Operation(summary = "Queue depth, running rows, token counters and KV-cache use, now")
    @GetMapping("/admin/stats")
    StatsView stats() {
        return new StatsView("engine.stats", System.currentTimeMillis(),
                gauge("reft.queue.depth"), gauge("reft.running.rows"),
                counter("reft.prompt.tokens"), counter("reft.generated.tokens"),
                gauge("reft.kv.cache.used.tokens"), gauge("reft.kv.cache.capacity.tokens"));
    }

    /** A gauge's value; 0 before the engine has bound it. */
    private long gauge(String name) {
        Gauge g = meters.find(name).gauge();
        return g == null ? 0 : Math.round(g.value());
    }

    private long counter(String name) {
        Counter c = meters.find(name).counter();
        return c == null ? 0 : Math.round(c.count());
    }
}

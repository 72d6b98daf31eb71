package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.config.TenantTagPolicy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class EngineMetricsTest {

    @Test
    void countsTokensPerTenantUnderTheTagBoundWithOneMeterPerTagValue() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        EngineMetrics metrics = new EngineMetrics(registry, new TenantTagPolicy(2));
        for (int i = 0; i < 5; i++) {
            metrics.generatedToken("acme");
        }
        metrics.generatedToken("globex");
        metrics.generatedToken("initech");
        metrics.generatedToken("hooli");
        metrics.firstToken("acme", 1_000_000, 7);
        metrics.firstToken("hooli", 1_000_000, 3);

        assertThat(registry.get("reft.tenant.generated.tokens").tag("tenant", "acme").counter().count()).isEqualTo(5);
        assertThat(registry.get("reft.tenant.generated.tokens").tag("tenant", "globex").counter().count())
                .isEqualTo(1);
        assertThat(registry.get("reft.tenant.generated.tokens").tag("tenant", "other").counter().count())
                .isEqualTo(2);
        assertThat(registry.find("reft.tenant.generated.tokens").counters()).hasSize(3);
        assertThat(registry.get("reft.generated.tokens").counter().count()).isEqualTo(8);
        assertThat(registry.get("reft.tenant.prompt.tokens").tag("tenant", "acme").counter().count()).isEqualTo(7);
        assertThat(registry.get("reft.tenant.prompt.tokens").tag("tenant", "other").counter().count()).isEqualTo(3);
    }

    @Test
    void countsFinishedRowsByReasonWithEveryReasonRegisteredUpFront() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        EngineMetrics metrics = new EngineMetrics(registry, new TenantTagPolicy(4));
        assertThat(registry.find("reft.rows.finished").counters()).hasSize(FinishReason.values().length);
        metrics.finished("acme", FinishReason.LENGTH, 2_000_000);
        metrics.finished("acme", FinishReason.LENGTH, -1);
        metrics.finished("acme", FinishReason.CANCELLED, -1);
        assertThat(registry.get("reft.rows.finished").tag("reason", "length").counter().count()).isEqualTo(2);
        assertThat(registry.get("reft.rows.finished").tag("reason", "cancelled").counter().count()).isEqualTo(1);
        assertThat(registry.get("reft.rows.finished").tag("reason", "stop").counter().count()).isZero();
        // only rows with a measured gap between tokens feed time per output token
        assertThat(registry.get("reft.time.per.output.token").timer().count()).isEqualTo(1);
    }
}

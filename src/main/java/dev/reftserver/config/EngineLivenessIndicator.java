package dev.reftserver.config;

import dev.reftserver.engine.Scheduler;
import java.util.Optional;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.stereotype.Component;

/**
 * Liveness of the engine (in the {@code liveness} health group): DOWN when the engine thread died, or when rows
 * wait or run and no step has completed for {@code reft.engine.stall-timeout}, so the orchestrator restarts an
 * instance whose requests would otherwise hang. A drained engine is stopped on purpose and stays UP, so nothing
 * restarts an instance mid-shutdown.
 */
@Component("engineLiveness")
public class EngineLivenessIndicator implements HealthIndicator {

    private final Scheduler scheduler;

    public EngineLivenessIndicator(Scheduler scheduler) {
        this.scheduler = scheduler;
    }

    @Override
    public Health health() {
        Optional<String> fault = scheduler.fault();
        return fault.isPresent() ? Health.down().withDetail("fault", fault.get()).build() : Health.up().build();
    }
}

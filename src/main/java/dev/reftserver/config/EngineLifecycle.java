package dev.reftserver.config;

import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Readiness of the engine: OUT_OF_SERVICE until the model has run a warm-up generation, UP while serving,
 * OUT_OF_SERVICE again from the moment shutdown starts draining, and DOWN whenever the engine thread is dead or
 * stuck ({@link Scheduler#fault()}; liveness sees the same through {@link EngineLivenessIndicator}). Stops before the web server's graceful shutdown (a higher phase stops
 * first), so in-flight rows finish within {@code reft.engine.shutdown-grace} while new requests get 503.
 */
@Component("engine")
public class EngineLifecycle implements SmartLifecycle, HealthIndicator {

    private static final Logger log = LoggerFactory.getLogger(EngineLifecycle.class);

    /** Where the engine stands. */
    public enum State { WARMING, READY, DRAINING, STOPPED }

    private final Scheduler scheduler;
    private final TextTokenizer tokenizer;
    private final ApplicationEventPublisher events;
    private volatile State state = State.WARMING;

    public EngineLifecycle(Scheduler scheduler, TextTokenizer tokenizer, ApplicationEventPublisher events) {
        this.scheduler = scheduler;
        this.tokenizer = tokenizer;
        this.events = events;
    }

    public State state() {
        return state;
    }

    @Override
    public Health health() {
        Optional<String> fault = scheduler.fault();
        Health.Builder b = fault.isPresent() ? Health.down().withDetail("fault", fault.get())
                : state == State.READY ? Health.up() : Health.outOfService();
        return b.withDetail("state", state.name().toLowerCase())
                .withDetail("runningRows", scheduler.runningRows())
                .withDetail("waitingRows", scheduler.waitingRows())
                .build();
    }

    @Override
    public void start() {
        // Also runs again after stop(): a paused test context or a restarted lifecycle resumes the engine.
        boolean restart = state == State.STOPPED;
        scheduler.resume();
        long t0 = System.nanoTime();
        CompletableFuture<FinishReason> done = new CompletableFuture<>();
        scheduler.submit(List.of(new Generation("warm-up", tokenizer.encode("Once upon a time"),
                SamplingParams.greedy(4), null, new GenerationListener() {
                    @Override
                    public void onText(String delta) {
                    }

                    @Override
                    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                        done.complete(reason);
                    }
                }, TimeUnit.MINUTES.toNanos(5))));
        FinishReason reason = done.join();
        if (reason != FinishReason.LENGTH && reason != FinishReason.STOP) {
            throw new IllegalStateException("engine warm-up failed: " + reason);
        }
        state = State.READY;
        if (restart) {
            // stop() refused traffic; at first start Spring Boot accepts traffic itself once the application is
            // ready, but after a restart nothing else would, and readiness would stay down for good.
            AvailabilityChangeEvent.publish(events, this, ReadinessState.ACCEPTING_TRAFFIC);
        }
        log.info("engine warm and ready in {} ms", (System.nanoTime() - t0) / 1_000_000);
    }

    @Override
    public void stop() {
        if (state == State.STOPPED) {
            return;
        }
        state = State.DRAINING;
        AvailabilityChangeEvent.publish(events, this, ReadinessState.REFUSING_TRAFFIC);
        log.info("draining the engine: {} running, {} waiting", scheduler.runningRows(), scheduler.waitingRows());
        scheduler.drain();
        state = State.STOPPED;
    }

    @Override
    public boolean isRunning() {
        return state == State.READY || state == State.DRAINING;
    }

    /** Above the web server's graceful-shutdown phase, so the engine drains first. */
    @Override
    public int getPhase() {
        return Integer.MAX_VALUE - 100;
    }
}

package dev.reftserver.tenant;

import dev.reftserver.registry.RateLimits;
import dev.reftserver.registry.RegistryChange;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.Tenant;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;
import io.github.bucket4j.TimeMeter;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Per-tenant token buckets (Bucket4j), refilled greedily over a minute: one for requests, one for generated
 * tokens. Limits come from the store; a change (here or on another replica) starts the tenant's buckets afresh
 * under the new limits on its next call. Buckets are per replica: N replicas admit up to N times a limit.
 */
public final class RateLimiter {

    private record Buckets(RateLimits limits, Bucket requests, Bucket tokens) {
    }

    private final RegistryStore store;
    private final TimeMeter clock;
    private final ConcurrentHashMap<String, Buckets> buckets = new ConcurrentHashMap<>();

    public RateLimiter(RegistryStore store) {
        this(store, TimeMeter.SYSTEM_MILLISECONDS);
    }

    RateLimiter(RegistryStore store, TimeMeter clock) {
        this.store = store;
        this.clock = clock;
        store.addListener(this::onChange);
    }

    /**
     * Admits one request (call at admission).
     *
     * @throws RateLimitedException if the tenant's requests-per-minute bucket is empty
     */
    public void checkRequest(String tenant) {
        Buckets b = buckets(tenant);
        if (b.requests() == null) {
            return;
        }
        ConsumptionProbe probe = b.requests().tryConsumeAndReturnRemaining(1);
        if (!probe.isConsumed()) {
            throw new RateLimitedException("requests", b.limits().requestsPerMinute(),
                    seconds(probe.getNanosToWaitForRefill()));
        }
    }

    /**
     * Refuses a request while the tenant's generated-tokens bucket is empty or in debt (call before admission).
     *
     * @throws RateLimitedException if no token is left this minute
     */
    public void checkTokens(String tenant) {
        Buckets b = buckets(tenant);
        if (b.tokens() == null || b.tokens().getAvailableTokens() > 0) {
            return;
        }
        throw new RateLimitedException("tokens", b.limits().tokensPerMinute(),
                seconds(b.tokens().estimateAbilityToConsume(1).getNanosToWaitForRefill()));
    }

    /** Charges {@code n} generated tokens (call after generation); the bucket may go into debt. */
    public void recordTokens(String tenant, long n) {
        Buckets b = buckets(tenant);
        if (b.tokens() != null && n > 0) {
            b.tokens().consumeIgnoringRateLimits(n);
        }
    }

    private Buckets buckets(String tenant) {
        return buckets.computeIfAbsent(tenant, t -> {
            RateLimits limits = store.tenant(t).map(Tenant::limits).orElse(RateLimits.UNLIMITED);
            return new Buckets(limits, bucket(limits.requestsPerMinute()), bucket(limits.tokensPerMinute()));
        });
    }

    private Bucket bucket(Long perMinute) {
        if (perMinute == null) {
            return null;
        }
        return Bucket.builder()
                .addLimit(Bandwidth.builder().capacity(perMinute).refillGreedy(perMinute, Duration.ofMinutes(1))
                        .build())
                .withCustomTimePrecision(clock)
                .build();
    }

    private void onChange(RegistryChange change) {
        switch (change.kind()) {
            case TENANT_CREATED, TENANT_UPDATED, TENANT_DELETED -> buckets.remove(change.tenant());
            case ALL -> buckets.clear();
            default -> {
                // keys, versions and tasks do not affect limits
            }
        }
    }

    private static long seconds(long nanos) {
        return Math.max(1, TimeUnit.NANOSECONDS.toSeconds(nanos + TimeUnit.SECONDS.toNanos(1) - 1));
    }
}

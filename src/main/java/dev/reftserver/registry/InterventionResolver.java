package dev.reftserver.registry;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;

/**
 * Resolves a completion request's {@code model} and {@code intervention} fields for one tenant. Order: the
 * explicit {@code intervention} ({@code name[@version]}, latest without a version), then a task of the caller
 * named {@code model}, then an intervention of the caller named {@code model} ({@code name[@version]}), then the
 * base model id. Anything else, including another tenant's names, is {@code model_not_found}.
 */
public final class InterventionResolver {

    private final RegistryStore store;
    private final String baseModelId;
    private final RandomGenerator random;

    public InterventionResolver(RegistryStore store, String baseModelId) {
        this(store, baseModelId, null);
    }

    /** @param random draws the route of requests without a sticky key; {@code null} for a thread-local one */
    public InterventionResolver(RegistryStore store, String baseModelId, RandomGenerator random) {
        this.store = store;
        this.baseModelId = baseModelId;
        this.random = random;
    }

    public String baseModelId() {
        return baseModelId;
    }

    /**
     * @param stickyKey routes a task's weighted requests deterministically (the request's {@code user}, or its
     *                  seed); {@code null} draws at random
     * @throws ModelNotFoundException with param {@code intervention} or {@code model}
     */
    public Resolution resolve(String tenant, String model, String intervention, String stickyKey) {
        if (intervention != null && !intervention.isBlank()) {
            return find(tenant, intervention).map(v -> Resolution.of(v, null))
                    .orElseThrow(() -> new ModelNotFoundException("intervention", intervention));
        }
        if (model == null || model.isBlank()) {
            throw new ModelNotFoundException("model", "");
        }
        if (Names.isIntervention(model)) {
            Optional<Task> task = store.task(tenant, model);
            if (task.isPresent() && !task.get().routes().isEmpty()) {
                Route r = pick(task.get(), stickyKey);
                return new Resolution(r.id(), tenant, r.name(), r.version(), task.get().name());
            }
        }
        Optional<InterventionVersion> v = find(tenant, model);
        if (v.isPresent()) {
            return Resolution.of(v.get(), null);
        }
        if (model.equals(baseModelId)) {
            return Resolution.base(tenant);
        }
        throw new ModelNotFoundException("model", model);
    }

    private Optional<InterventionVersion> find(String tenant, String ref) {
        Names.Ref r = Names.Ref.parse(ref);
        if (r == null) {
            return Optional.empty();
        }
        return r.pinned() ? store.version(tenant, r.name(), r.version()) : store.latest(tenant, r.name());
    }

    /**
     * Picks a route by weight: bucket = H(task, key) mod total weight with a sticky key, else uniform at random;
     * the route whose cumulative weight range holds the bucket wins.
     */
    Route pick(Task task, String stickyKey) {
        long total = task.totalWeight();
        long bucket = stickyKey == null
                ? (random != null ? random : ThreadLocalRandom.current()).nextLong(total)
                : Long.remainderUnsigned(hash(task.name() + '\n' + stickyKey), total);
        for (Route r : task.routes()) {
            bucket -= r.weight();
            if (bucket < 0) {
                return r;
            }
        }
        throw new IllegalStateException("bucket beyond the total weight");
    }

    private static long hash(String s) {
        byte[] d = Sha256.digest(s.getBytes(StandardCharsets.UTF_8));
        long h = 0;
        for (int i = 0; i < 8; i++) {
            h = (h << 8) | (d[i] & 0xff);
        }
        return h;
    }
}

package dev.reftserver.api;

import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.registry.BundleCache;
import dev.reftserver.registry.InterventionResolver;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.Resolution;
import dev.reftserver.registry.Task;
import java.util.ArrayList;
import java.util.List;

/** Resolves completions through the tenant's registry and hands out leases on device-resident bundles. */
final class RegistryTargets implements CompletionTargets {

    private final InterventionResolver resolver;
    private final BundleCache<LoadedBundle> cache;
    private final RegistryStore store;

    RegistryTargets(InterventionResolver resolver, BundleCache<LoadedBundle> cache, RegistryStore store) {
        this.resolver = resolver;
        this.cache = cache;
        this.store = store;
    }

    @Override
    public Target resolve(String tenant, CompletionRequest request) {
        // Sticky canaries: the same user (or seed) always takes the same weighted route.
        String sticky = request.user() != null ? request.user()
                : request.seed() != null ? "seed:" + request.seed() : null;
        Resolution r = resolver.resolve(tenant, request.model(), request.intervention(), sticky);
        if (r.isBase()) {
            return Target.base();
        }
        BundleCache.Lease<LoadedBundle> lease = r.acquire(cache);
        return new Target(r.appliedId(), lease.value(), lease);
    }

    @Override
    public List<Listed> listFor(String tenant) {
        List<Listed> out = new ArrayList<>();
        for (Task t : store.tasks(tenant)) {
            out.add(new Listed(t.name(), "task", t.updatedAt().getEpochSecond()));
        }
        for (InterventionVersion v : store.versions(tenant)) {
            out.add(new Listed(v.id(), "intervention", v.createdAt().getEpochSecond()));
        }
        return out;
    }
}

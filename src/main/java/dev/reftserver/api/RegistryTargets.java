package dev.reftserver.api;

import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.intervention.ScaledBundle;
import dev.reftserver.registry.BundleCache;
import dev.reftserver.registry.InterventionResolver;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.ModelNotFoundException;
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
    public Target resolve(String tenant, Selection selection) {
        if (selection.interventions() != null) {
            return compose(tenant, selection.interventions());
        }
        Resolution r = resolver.resolve(tenant, selection.model(), selection.intervention(),
                selection.stickyKey());
        if (r.isBase()) {
            return Target.base();
        }
        BundleCache.Lease<LoadedBundle> lease = r.acquire(cache);
        return new Target(r.appliedId(), List.of(new ScaledBundle(lease.value(), 1f)), lease);
    }

    /**
     * Resolves every member with the caller's tenancy (an unknown or foreign name is the usual 404) and leases
     * every bundle under one lease that closes them all (the request's rows own it once submitted); a failure
     * releases the leases already taken.
     */
    private Target compose(String tenant, List<InterventionRef> members) {
        List<BundleCache.Lease<LoadedBundle>> leases = new ArrayList<>(members.size());
        AutoCloseable releaseAll = () -> leases.forEach(BundleCache.Lease::close);
        try {
            List<ScaledBundle> bundles = new ArrayList<>(members.size());
            StringBuilder applied = new StringBuilder();
            for (int i = 0; i < members.size(); i++) {
                InterventionRef m = members.get(i);
                Resolution r;
                try {
                    r = resolver.resolve(tenant, null, m.name(), null);
                } catch (ModelNotFoundException e) {
                    throw new ModelNotFoundException("interventions[" + i + "].name", m.name());
                }
                BundleCache.Lease<LoadedBundle> lease = r.acquire(cache);
                leases.add(lease);
                bundles.add(new ScaledBundle(lease.value(), (float) m.scaleOrDefault()));
                applied.append(i == 0 ? "" : ",").append(r.appliedId()).append(";scale=").append(m.scaleOrDefault());
            }
            return new Target(applied.toString(), bundles, releaseAll);
        } catch (RuntimeException e) {
            leases.forEach(BundleCache.Lease::close);
            throw e;
        }
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

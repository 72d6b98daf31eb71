package dev.reftserver.registry;

/**
 * What a request's {@code model} / {@code intervention} resolved to.
 *
 * @param appliedId {@code name@version}, or {@code none} for the base model (the {@code X-Reft-Intervention}
 *                  header)
 * @param name      the intervention name, or {@code null} for the base model
 * @param version   the intervention version, or 0 for the base model
 * @param task      the task that routed the request, or {@code null}
 */
public record Resolution(String appliedId, String tenant, String name, int version, String task) {

    public static final String NONE = "none";

    static Resolution base(String tenant) {
        return new Resolution(NONE, tenant, null, 0, null);
    }

    static Resolution of(InterventionVersion v, String task) {
        return new Resolution(v.id(), v.tenant(), v.name(), v.version(), task);
    }

    public boolean isBase() {
        return name == null;
    }

    /** The bundle to load; only for a non-base resolution. */
    public BundleKey key() {
        if (isBase()) {
            throw new IllegalStateException("the base model has no bundle");
        }
        return new BundleKey(tenant, name, version);
    }

    /** A lease on the loaded bundle from {@code cache}, or {@code null} for the base model. Close it when done. */
    public <T extends AutoCloseable> BundleCache.Lease<T> acquire(BundleCache<T> cache) {
        return isBase() ? null : cache.acquire(key());
    }
}

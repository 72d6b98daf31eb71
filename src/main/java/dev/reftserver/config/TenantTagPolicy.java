package dev.reftserver.config;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Bounds the cardinality of the {@code tenant} metric tag: the first {@code limit} tenants seen keep their own
 * series, later ones are counted as {@code other}. Tenant names are few and stable in practice, and a fixed bound
 * is what keeps Prometheus safe from a tenant explosion.
 */
public final class TenantTagPolicy implements Function<String, String> {

    private final int limit;
    private final Set<String> named = ConcurrentHashMap.newKeySet();

    public TenantTagPolicy(int limit) {
        this.limit = limit;
    }

    @Override
    public String apply(String tenant) {
        if (named.contains(tenant)) {
            return tenant;
        }
        synchronized (named) {
            if (named.size() < limit) {
                named.add(tenant);
                return tenant;
            }
        }
        return "other";
    }
}

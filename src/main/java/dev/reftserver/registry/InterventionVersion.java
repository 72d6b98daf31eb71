package dev.reftserver.registry;

import dev.reftserver.intervention.BundleSummary;
import java.time.Instant;

/**
 * One immutable version of a tenant's intervention. Its bundle bytes (the native {@code reft-bundle/1} zip)
 * are fetched separately with {@link RegistryStore#bundle}.
 *
 * @param sha256 lowercase hex SHA-256 of the bundle bytes
 * @param bytes  size of the bundle bytes
 */
public record InterventionVersion(
        String tenant, String name, int version, BundleSummary summary, String sha256, long bytes,
        Instant createdAt) {

    /** The id clients use: {@code name@version}. */
    public String id() {
        return name + "@" + version;
    }

    public BundleKey key() {
        return new BundleKey(tenant, name, version);
    }
}

package dev.reftserver.tenant;

import dev.reftserver.error.ServiceException;
import dev.reftserver.registry.Names;
import dev.reftserver.registry.RateLimits;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.Tenant;
import dev.reftserver.registry.UnknownTenantException;

/** What the admin API does to tenants and keys. */
public final class TenantAdmin {

    /** A tenant just created with its first key (shown once). */
    public record CreatedTenant(Tenant tenant, ApiKeys.IssuedKey key) {
    }

    private final RegistryStore store;
    private final ApiKeys keys;

    public TenantAdmin(RegistryStore store, ApiKeys keys) {
        this.store = store;
        this.keys = keys;
    }

    public CreatedTenant create(String name, RateLimits limits) {
        if (!Names.isTenant(name)) {
            throw ServiceException.invalidRequest("name", "invalid tenant name '" + name
                    + "': 1 to 63 of a-z, 0-9, '-', '_', starting with a letter or digit");
        }
        Tenant tenant = store.createTenant(name, limits);
        return new CreatedTenant(tenant, keys.issue(name));
    }

    public ApiKeys.IssuedKey newKey(String tenant) {
        return keys.issue(tenant);
    }

    public void deleteKey(String tenant, String keyId) {
        requireTenant(tenant);
        if (!store.deleteKey(tenant, keyId)) {
            throw ServiceException.notFound("key", "key '" + keyId + "' not found");
        }
    }

    public void delete(String name) {
        if (!store.deleteTenant(name)) {
            throw new UnknownTenantException(name);
        }
    }

    public Tenant updateLimits(String name, RateLimits limits) {
        return store.updateLimits(name, limits);
    }

    public Tenant requireTenant(String name) {
        return store.tenant(name).orElseThrow(() -> new UnknownTenantException(name));
    }
}

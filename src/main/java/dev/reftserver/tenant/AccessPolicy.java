package dev.reftserver.tenant;

import dev.reftserver.registry.RegistryStore;
import java.security.MessageDigest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may call what: the admin key, and whether the server runs in open single-tenant mode (no admin key
 * configured and no tenant in the store: every {@code /v1} call acts as tenant {@code default}). Open mode is
 * decided per call, so the first tenant created (e.g. on another replica) ends it at once.
 */
public final class AccessPolicy {

    private static final Logger log = LoggerFactory.getLogger(AccessPolicy.class);

    private final RegistryStore store;
    private final byte[] adminKeyHash;

    public AccessPolicy(SecurityProperties props, RegistryStore store) {
        this.store = store;
        this.adminKeyHash = props.adminKeyConfigured() ? ApiKeys.hash(props.adminKey()) : null;
        if (openMode()) {
            log.warn("OPEN MODE: no admin key (reft.security.admin-key) and no tenants: every /v1 call is served "
                    + "without authentication as tenant '{}'", TenantPrincipal.DEFAULT_TENANT);
        } else if (adminKeyHash == null) {
            log.info("no admin key configured: the /admin API is disabled");
        }
    }

    public boolean adminEnabled() {
        return adminKeyHash != null;
    }

    public boolean isAdminKey(String presented) {
        return adminKeyHash != null && MessageDigest.isEqual(adminKeyHash, ApiKeys.hash(presented));
    }

    public boolean openMode() {
        return adminKeyHash == null && !store.hasTenants();
    }
}

package dev.reftserver.tenant;

import dev.reftserver.registry.ApiKeyRecord;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.Sha256;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;

/**
 * Issues and checks API keys: {@code rk-} and 32 random bytes (256 bits) in unpadded base64url. Only the
 * SHA-256 of a key is stored; a presented key is hashed and the hashes are compared in constant time.
 */
public final class ApiKeys {

    /** A key just issued: {@code key} is shown to the client once and never again. */
    public record IssuedKey(ApiKeyRecord record, String key) {
    }

    private static final String PREFIX = "rk-";

    private final RegistryStore store;
    private final SecureRandom random = new SecureRandom();

    public ApiKeys(RegistryStore store) {
        this.store = store;
    }

    /** @throws dev.reftserver.registry.UnknownTenantException if there is no such tenant */
    public IssuedKey issue(String tenant) {
        byte[] secret = new byte[32];
        random.nextBytes(secret);
        String key = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
        return new IssuedKey(store.addKey(tenant, hash(key)), key);
    }

    public Optional<TenantPrincipal> authenticate(String presented) {
        byte[] hash = hash(presented);
        return store.keyByHash(hash)
                .filter(k -> MessageDigest.isEqual(k.keyHash(), hash))
                .map(k -> new TenantPrincipal(k.tenant()));
    }

    static byte[] hash(String key) {
        return Sha256.digest(key.getBytes(StandardCharsets.UTF_8));
    }
}

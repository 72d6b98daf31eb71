package dev.reftserver.registry;

import java.time.Instant;

/**
 * A stored API key. Only the SHA-256 of the key is kept; the key itself is shown once, when it is made.
 *
 * @param id      a public handle for listing and revoking the key
 * @param keyHash SHA-256 of the key's UTF-8 bytes
 */
public record ApiKeyRecord(String id, String tenant, byte[] keyHash, Instant createdAt) {
}

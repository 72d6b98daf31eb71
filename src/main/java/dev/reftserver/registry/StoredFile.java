package dev.reftserver.registry;

import java.time.Instant;

/**
 * A tenant's fine-tuning file as the store keeps it: metadata here, its bytes by {@link RegistryStore#fileContent}.
 * The store does not parse the content; the training layer validated it before it was stored.
 *
 * @param expiresAt when the file stops existing (OpenAI's {@code expires_after}), or null: kept until deleted
 */
public record StoredFile(String id, String tenant, String filename, String purpose, long bytes, Instant createdAt,
        Instant expiresAt) {

    /** Whether the file has expired by {@code now}. */
    public boolean expired(Instant now) {
        return expiresAt != null && !now.isBefore(expiresAt);
    }
}

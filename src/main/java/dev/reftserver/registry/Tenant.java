package dev.reftserver.registry;

import java.time.Instant;

/** A tenant: the owner of API keys, intervention versions and tasks. */
public record Tenant(String name, Instant createdAt, RateLimits limits) {
}

package dev.reftserver.registry;

/**
 * A tenant's limits; {@code null} means unlimited.
 *
 * @param requestsPerMinute completion requests admitted per minute
 * @param tokensPerMinute   generated tokens per minute
 */
public record RateLimits(Long requestsPerMinute, Long tokensPerMinute) {

    public static final RateLimits UNLIMITED = new RateLimits(null, null);

    public RateLimits {
        if (requestsPerMinute != null && requestsPerMinute <= 0) {
            throw new IllegalArgumentException("requests_per_minute must be positive");
        }
        if (tokensPerMinute != null && tokensPerMinute <= 0) {
            throw new IllegalArgumentException("tokens_per_minute must be positive");
        }
    }
}

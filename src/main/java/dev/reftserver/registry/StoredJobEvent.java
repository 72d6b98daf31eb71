package dev.reftserver.registry;

import java.time.Instant;

/**
 * One event of a fine-tuning job; {@code seq} counts a job's events from 0 in the order they happened.
 *
 * @param data a JSON object (metrics of a step), {@code "{}"} for plain messages
 */
public record StoredJobEvent(String jobId, int seq, Instant createdAt, String level, String message, String type,
        String data) {
}

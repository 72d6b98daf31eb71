package dev.reftserver.registry;

import java.time.Instant;
import java.util.Set;

/**
 * A fine-tuning job as the store keeps it. The store treats {@code request} (the job's creation body, JSON) and
 * {@code status} (a wire name) as opaque, except that it knows which statuses are final.
 *
 * @param error null unless the job failed
 * @param owner the replica that accepted the job and runs it (null for a job stored without one)
 */
public record StoredJob(String id, String tenant, Instant createdAt, String request, int examples, int totalSteps,
        String status, int stepsDone, long trainedTokens, String fineTunedModel, Error error, Instant finishedAt,
        String owner) {

    /** Statuses a job never leaves. */
    public static final Set<String> TERMINAL = Set.of("succeeded", "failed", "cancelled");

    /** OpenAI's job error shape. */
    public record Error(String code, String message, String param) {
    }

    public boolean terminal() {
        return TERMINAL.contains(status);
    }

    /** This job in {@code status}, all else kept. */
    public StoredJob withStatus(String next) {
        return new StoredJob(id, tenant, createdAt, request, examples, totalSteps, next, stepsDone, trainedTokens,
                fineTunedModel, error, finishedAt, owner);
    }

    /** This job run by {@code replica} (null: by none). */
    public StoredJob ownedBy(String replica) {
        return new StoredJob(id, tenant, createdAt, request, examples, totalSteps, status, stepsDone, trainedTokens,
                fineTunedModel, error, finishedAt, replica);
    }


    /** This job cancelled now, before it started. */
    public StoredJob cancelledAt(Instant now) {
        return new StoredJob(id, tenant, createdAt, request, examples, totalSteps, "cancelled", stepsDone,
                trainedTokens, fineTunedModel, null, now, owner);
    }
}

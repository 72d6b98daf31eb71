package dev.reftserver.registry;

import dev.reftserver.intervention.BundleSummary;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Where tenants, API keys, intervention versions (with their bundle bytes), tasks and fine-tuning files and
 * jobs live. Two implementations
 * keep one contract: {@link EmbeddedStore} (files, the default) and {@link PostgresStore} (shared by replicas).
 *
 * <p>Everything but tenants and keys is scoped by tenant: a tenant's names never reveal another's. Data may be
 * stored under a tenant name that has no tenant record (the open single-tenant mode acts as {@code default}).
 * Version numbers of a name start at 1 and are never reused, not even after the version is deleted.
 */
public interface RegistryStore extends AutoCloseable {

    /** @throws TenantExistsException if the name is taken */
    Tenant createTenant(String name, RateLimits limits);

    Optional<Tenant> tenant(String name);

    /** All tenants, by name. */
    List<Tenant> tenants();

    boolean hasTenants();

    /** @throws UnknownTenantException if there is no such tenant */
    Tenant updateLimits(String name, RateLimits limits);

    /**
     * Removes the tenant record, its keys, intervention versions, tasks, fine-tuning files and jobs.
     *
     * @return whether a tenant record existed
     */
    boolean deleteTenant(String name);

    /** @throws UnknownTenantException if there is no such tenant */
    ApiKeyRecord addKey(String tenant, byte[] keyHash);

    Optional<ApiKeyRecord> keyByHash(byte[] keyHash);

    List<ApiKeyRecord> keys(String tenant);

    boolean deleteKey(String tenant, String keyId);

    /** Stores {@code bundle} as the next version of {@code name}; visible only once wholly written. */
    InterventionVersion addVersion(String tenant, String name, BundleSummary summary, byte[] bundle);

    /** Every version of every intervention of the tenant, by name then version. */
    List<InterventionVersion> versions(String tenant);

    /** The versions of one intervention, ascending; empty if the tenant has no such intervention. */
    List<InterventionVersion> versions(String tenant, String name);

    Optional<InterventionVersion> version(String tenant, String name, int version);

    Optional<InterventionVersion> latest(String tenant, String name);

    /** The bundle bytes of a version, exactly as stored. */
    Optional<byte[]> bundle(String tenant, String name, int version);

    /** @throws InterventionInUseException if a task routes to it */
    boolean deleteVersion(String tenant, String name, int version);

    /**
     * Deletes every version of an intervention.
     *
     * @return how many versions went
     * @throws InterventionInUseException if a task routes to any of them (then none is deleted)
     */
    int deleteIntervention(String tenant, String name);

    /**
     * Creates or replaces a task.
     *
     * @throws UnknownRouteException if a route names a version the tenant does not have
     */
    Task putTask(String tenant, String name, List<Route> routes);

    Optional<Task> task(String tenant, String name);

    /** The tenant's tasks, by name. */
    List<Task> tasks(String tenant);

    boolean deleteTask(String tenant, String name);

    // ---- fine-tuning files and jobs

    /** Stores a fine-tuning file with its content; visible only once wholly written. */
    StoredFile addFile(StoredFile file, byte[] content);

    /** The tenant's files, newest first; a file past its {@link StoredFile#expiresAt} is gone for every read. */
    List<StoredFile> files(String tenant);

    Optional<StoredFile> file(String tenant, String id);

    Optional<byte[]> fileContent(String tenant, String id);

    boolean deleteFile(String tenant, String id);

    /** Deletes, content and all, every file of any tenant expired by {@code now}; returns their ids. */
    List<String> deleteExpiredFiles(Instant now);

    /** Creates the job, or replaces the stored state of the tenant's job with that id. */
    void putJob(StoredJob job);

    /** What a write by the replica that runs a job found ({@link #updateJob}). */
    enum JobWrite {
        /** Written. */
        WRITTEN,
        /** Written; a cancel of the job was asked through another replica ({@link #cancelJob}). */
        CANCEL_REQUESTED,
        /** Written; a pause of the job was asked ({@link #pauseJob}). */
        PAUSE_REQUESTED,
        /** Not written: the store holds the job finished (cancelled or failed elsewhere) or run by another replica. */
        REFUSED
    }

    /**
     * Writes the state of a job by the replica that runs it ({@code job.owner()}) and marks the job alive: only
     * while the stored job is unfinished and still that replica's, so a job another replica cancelled, or took over
     * when this one fell silent, is never written back.
     *
     * @param trainingState what the job needs to continue where it is (opaque to the store), kept with it; null
     *                      keeps the one stored
     */
    JobWrite updateJob(StoredJob job, byte[] trainingState);

    /** {@link #updateJob(StoredJob, byte[])} keeping the stored training state. */
    default JobWrite updateJob(StoredJob job) {
        return updateJob(job, null);
    }

    /** The training state last written with the tenant's job, if any. */
    Optional<byte[]> jobTrainingState(String tenant, String id);

    /** Marks those of {@code ids} that {@code owner} runs and are unfinished alive now ({@link #claimAbandonedJobs}). */
    void heartbeatJobs(String owner, Collection<String> ids);

    /** What {@link #cancelJob} did. */
    enum JobCancel {
        /** The job had not started: it is cancelled now. */
        CANCELLED,
        /** The job is running: the cancel is recorded for the replica that runs it, whose next write learns of it. */
        REQUESTED,
        /** The job had already finished. */
        FINISHED,
        /** The tenant has no such job. */
        UNKNOWN
    }

    /** Cancels the tenant's job from any replica (a job cancelled here finishes at {@code now}). */
    JobCancel cancelJob(String tenant, String id, Instant now);

    /** What {@link #pauseJob} or {@link #resumeJob} did. */
    enum JobPause {
        /** Done here: a job not started is paused (no replica runs it), a paused one queued for any to take over. */
        DONE,
        /** The job is running: the pause is recorded for the replica that runs it, whose next write learns of it. */
        REQUESTED,
        /** The job is not in a state this applies to (finished, or already paused; or, to resume, not paused). */
        NOT_APPLICABLE,
        /** The tenant has no such job. */
        UNKNOWN
    }

    /**
     * Pauses the tenant's job from any replica: a queued one at once, a running one by its replica at its next
     * update (which keeps its training state and writes it {@code paused}). Paused jobs are never taken over.
     */
    JobPause pauseJob(String tenant, String id);

    /** Queues the tenant's paused job again, run by no replica, for any to take over ({@link #claimAbandonedJobs}). */
    JobPause resumeJob(String tenant, String id);

    /**
     * Makes {@code claimant} the owner of at most {@code max} unfinished jobs, oldest first, that no replica runs:
     * released by a replica that stopped ({@link #releaseJobs}), or not marked alive within {@code lease} (their
     * replica died or lost the store). Returns them as claimed (marked alive now); two replicas never claim the
     * same job.
     */
    List<StoredJob> claimAbandonedJobs(Duration lease, String claimant, int max);

    /** Gives up the unfinished jobs {@code owner} runs (it is stopping), for any replica to claim at once. */
    void releaseJobs(String owner);

    /** The tenant's jobs, newest first. */
    List<StoredJob> jobs(String tenant);

    Optional<StoredJob> job(String tenant, String id);

    /** Every tenant's jobs in a status that is not final (what a restart finds unfinished), oldest first. */
    List<StoredJob> unfinishedJobs();

    /** Appends an event to a job; events of a job are kept in {@code seq} order. */
    void addJobEvent(String tenant, StoredJobEvent event);

    /** The job's events with {@code seq >= from}, oldest first; empty for another tenant's job. */
    List<StoredJobEvent> jobEvents(String tenant, String jobId, int from);

    /**
     * Registers a listener told of every change, made here (synchronously, after it is durable) or on another
     * replica sharing the store (within about a second).
     */
    void addListener(Consumer<RegistryChange> listener);

    @Override
    default void close() {
    }
}

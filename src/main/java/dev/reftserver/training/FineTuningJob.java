package dev.reftserver.training;

import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.StoredJob;
import dev.reftserver.registry.StoredJobEvent;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/**
 * One fine-tuning job. Status moves {@code validating_files -> queued -> running -> succeeded | failed |
 * cancelled}; the worker thread writes it, HTTP threads read snapshots. Every change and every event is written
 * through to the registry store before the change is visible, so the store always holds what clients were shown.
 * Only the replica that accepted a job ({@code owner}) writes it, and only while the store still holds it unfinished
 * and that replica's ({@link RegistryStore#updateJob}): when another replica has cancelled it, or taken it over
 * after this one fell silent, the write throws {@link Taken} and the owner stops.
 */
public final class FineTuningJob {

    public enum Status {
        VALIDATING_FILES, QUEUED, RUNNING, PAUSED, SUCCEEDED, FAILED, CANCELLED;

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Status ofWireName(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }

        public boolean terminal() {
            return this == SUCCEEDED || this == FAILED || this == CANCELLED;
        }
    }

    /** An OpenAI fine-tuning event; {@code data} holds step, loss and learning rate for metrics events. */
    public record Event(String id, Instant createdAt, String level, String message, String type,
            Map<String, Object> data) {
    }

    /** Why a job failed, in OpenAI's job error shape. */
    public record Failure(String code, String message, String param) {
    }

    /** An immutable view of a job. */
    public record Snapshot(String id, String tenant, Instant createdAt, JobSpec spec, int examples, int totalSteps,
            Status status, int stepsDone, long trainedTokens, String fineTunedModel, Failure error,
            Instant finishedAt) {
    }

    /** The store holds the job finished (cancelled through another replica) or run by another server now. */
    static final class Taken extends RuntimeException {
        Taken(String id) {
            super("fine-tuning job " + id + " was finished or taken over by another server", null, false, false);
        }
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final RegistryStore store;
    private final String id;
    private final String tenant;
    private final Instant createdAt;
    private final String request;
    private final JobSpec spec;
    private final int examples;
    private final int totalSteps;
    private final String owner;
    private int eventCount;
    private Status status;
    private int stepsDone;
    private long trainedTokens;
    private String fineTunedModel;
    private Failure error;
    private Instant finishedAt;
    private volatile boolean cancelRequested;
    /** A pause was asked ({@link RegistryStore#pauseJob}), as the last write found. */
    private volatile boolean pauseRequested;

    /** A new job, recorded in the store at once. */
    FineTuningJob(RegistryStore store, String id, String tenant, String request, JobSpec spec, int examples,
            int totalSteps, String owner) {
        this.store = store;
        this.id = id;
        this.tenant = tenant;
        this.createdAt = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        this.request = request;
        this.spec = spec;
        this.examples = examples;
        this.totalSteps = totalSteps;
        this.owner = owner;
        this.status = Status.VALIDATING_FILES;
        store.putJob(stored());
    }

    /** A job as the store holds it; {@code spec} re-read from its stored request. */
    FineTuningJob(RegistryStore store, StoredJob s, JobSpec spec, int eventCount) {
        this.store = store;
        this.id = s.id();
        this.tenant = s.tenant();
        this.createdAt = s.createdAt();
        this.request = s.request();
        this.spec = spec;
        this.examples = s.examples();
        this.totalSteps = s.totalSteps();
        this.owner = s.owner();
        this.status = Status.ofWireName(s.status());
        this.stepsDone = s.stepsDone();
        this.trainedTokens = s.trainedTokens();
        this.fineTunedModel = s.fineTunedModel();
        this.error = s.error() == null ? null
                : new Failure(s.error().code(), s.error().message(), s.error().param());
        this.finishedAt = s.finishedAt();
        this.eventCount = eventCount;
    }

    public String id() {
        return id;
    }

    public String tenant() {
        return tenant;
    }

    public synchronized Snapshot snapshot() {
        return new Snapshot(id, tenant, createdAt, spec, examples, totalSteps, status, stepsDone, trainedTokens,
                fineTunedModel, error, finishedAt);
    }

    private StoredJob stored() {
        return new StoredJob(id, tenant, createdAt, request, examples, totalSteps, status.wireName(), stepsDone,
                trainedTokens, fineTunedModel,
                error == null ? null : new StoredJob.Error(error.code(), error.message(), error.param()), finishedAt,
                owner);
    }

    /**
     * Writes the current state as the job's owner, learning of a cancel asked through another replica.
     *
     * @param undo puts back what the caller changed, when the store refuses the write
     * @throws Taken when another replica has finished the job
     */
    private void write(Runnable undo) {
        write(undo, null);
    }

    /** {@link #write(Runnable)}, keeping {@code trainingState} (null: the one stored) with the job. */
    private void write(Runnable undo, byte[] trainingState) {
        RegistryStore.JobWrite w = store.updateJob(stored(), trainingState);
        if (w == RegistryStore.JobWrite.REFUSED) {
            undo.run();
            throw new Taken(id);
        }
        if (w == RegistryStore.JobWrite.CANCEL_REQUESTED) {
            cancelRequested = true;
        }
        pauseRequested = w == RegistryStore.JobWrite.PAUSE_REQUESTED;
    }

    /** Writes the job as it is (its replica still runs it): learns of a cancel asked elsewhere. */
    synchronized void touch() {
        write(() -> { });
    }

    /** Keeps the run's state with the job as it is, for a server that takes the job over to go on from. */
    synchronized void keep(byte[] trainingState) {
        write(() -> { }, trainingState);
    }

    /** Events, newest first (as OpenAI lists them). */
    public List<Event> events() {
        List<Event> out = eventsFrom(0);
        Collections.reverse(out);
        return out;
    }

    /** Events from the {@code from}-th on (0-based), oldest first: what a live stream has not sent yet. */
    public List<Event> eventsFrom(int from) {
        List<Event> out = new ArrayList<>();
        for (StoredJobEvent e : store.jobEvents(tenant, id, from)) {
            @SuppressWarnings("unchecked")
            Map<String, Object> data = JSON.readValue(e.data(), LinkedHashMap.class);
            out.add(new Event(eventId(e.seq()), e.createdAt(), e.level(), e.message(), e.type(), data));
        }
        return out;
    }

    /**
     * When a running job should finish, at the pace of its last reported updates (up to {@link #PACE_EVENTS} events
     * back, since it last started or resumed); null for a job not running or with fewer than two updates to time.
     */
    public Instant estimatedFinish() {
        int count;
        synchronized (this) {
            if (status != Status.RUNNING) {
                return null;
            }
            count = eventCount;
        }
        List<Event> recent = eventsFrom(Math.max(0, count - PACE_EVENTS));
        Event first = null;
        Event last = null;
        for (Event e : recent) {
            if (e.type().equals("metrics")) {
                first = first == null ? e : first;
                last = e;
            } else if (e.message().equals(STARTED) || e.message().startsWith(RESUMED)) {
                first = null; // another server or a pause: the pace starts again
                last = null;
            }
        }
        if (first == null || first == last) {
            return null;
        }
        int steps = ((Number) last.data().get("step")).intValue() - ((Number) first.data().get("step")).intValue();
        long millis = last.createdAt().toEpochMilli() - first.createdAt().toEpochMilli();
        if (steps <= 0 || millis <= 0) {
            return null;
        }
        int left = totalSteps - ((Number) last.data().get("step")).intValue();
        return last.createdAt().plusMillis((long) ((double) millis / steps * left));
    }

    /** The event of a job's first start, and the start of that of its going on after a takeover or a pause. */
    static final String STARTED = "Fine-tuning job started";
    static final String RESUMED = "Fine-tuning job resumed after step ";

    /** How many of the latest events {@link #estimatedFinish} times the job's pace over. */
    static final int PACE_EVENTS = 50;

    /** The id of the results file a job that succeeds keeps ({@link TrainingFiles#keepResults}). */
    public static String resultsFileId(String jobId) {
        return jobId.replace("ftjob-", "file-") + "-results";
    }

    /** OpenAI's {@code result_files}: the job's results file, once it succeeded and while it is kept. */
    public List<String> resultFiles() {
        String file = resultsFileId(id);
        return snapshot().status() == Status.SUCCEEDED && store.file(tenant, file).isPresent() ? List.of(file)
                : List.of();
    }

    /** The last update a metrics event reported (0 for none): where a server taking the job over goes on. */
    int lastReportedStep() {
        int last = 0;
        for (StoredJobEvent e : store.jobEvents(tenant, id, 0)) {
            if (e.type().equals("metrics")) {
                @SuppressWarnings("unchecked")
                Map<String, Object> data = JSON.readValue(e.data(), LinkedHashMap.class);
                last = Math.max(last, ((Number) data.get("step")).intValue());
            }
        }
        return last;
    }

    private String eventId(int seq) {
        return id.replace("ftjob-", "ftevent-") + "-" + seq;
    }

    synchronized void event(String message) {
        record("message", message, Map.of());
    }

    private void record(String type, String message, Map<String, Object> data) {
        store.addJobEvent(tenant, new StoredJobEvent(id, eventCount, Instant.now().truncatedTo(ChronoUnit.MILLIS),
                "info", message, type, JSON.writeValueAsString(data)));
        eventCount++;
    }

    synchronized void moveTo(Status next, String message) {
        Status was = status;
        Instant wasFinished = finishedAt;
        status = next;
        if (next.terminal()) {
            finishedAt = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        }
        write(() -> {
            status = was;
            finishedAt = wasFinished;
        });
        event(message);
    }

    synchronized Status status() {
        return status;
    }

    /**
     * @param batch         this update's batch of the validation file scored after it, or null (not evaluated)
     * @param full          the whole validation file scored after this update, or null (not evaluated)
     * @param trainingState the run's state after this update to keep with the job, or null (the last one stays)
     */
    synchronized void stepped(TrainingRun.StepReport r, long tokens, TrainingRun.Validation batch,
            TrainingRun.Validation full, byte[] trainingState) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("step", r.step());
        data.put("total_steps", totalSteps);
        data.put("train_loss", r.loss());
        data.put("train_mean_token_accuracy", r.accuracy());
        data.put("learning_rate", r.learningRate());
        data.put("grad_norm", r.gradNorm());
        String message = String.format(Locale.ROOT, "Step %d/%d: training loss=%.4f", r.step(), totalSteps,
                r.loss());
        if (batch != null) {
            data.put("valid_loss", batch.loss());
            data.put("valid_mean_token_accuracy", batch.accuracy());
            message += String.format(Locale.ROOT, ", validation loss=%.4f", batch.loss());
        }
        if (full != null) {
            data.put("full_valid_loss", full.loss());
            data.put("full_valid_mean_token_accuracy", full.accuracy());
            message += String.format(Locale.ROOT, ", full validation loss=%.4f", full.loss());
        }
        // The report first: a server taking the job over goes on after the last step reported
        // (lastReportedStep), so a process that dies between the two writes has each step reported once.
        record("metrics", message, data);
        int wasDone = stepsDone;
        stepsDone = r.step();
        trainedTokens += tokens;
        write(() -> {
            stepsDone = wasDone;
            trainedTokens -= tokens;
        }, trainingState);
    }

    /** Announces the checkpoint registered as {@code model} after update {@code step} ({@link JobCheckpoints}). */
    synchronized void checkpointed(int step, String model) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("step", step);
        data.put(JobCheckpoints.MODEL_KEY, model);
        record("message", "Checkpoint created at step " + step + ": " + model, data);
    }

    synchronized void succeeded(String model) {
        fineTunedModel = model;
        try {
            moveTo(Status.SUCCEEDED, "The job has successfully completed; new intervention version " + model);
        } catch (Taken t) {
            fineTunedModel = null;
            throw t;
        }
    }

    synchronized void failed(Failure failure) {
        error = failure;
        try {
            moveTo(Status.FAILED, "The job failed: " + failure.message());
        } catch (Taken t) {
            error = null;
            throw t;
        }
    }

    /** @return whether the job was still live (not terminal) */
    synchronized boolean requestCancel() {
        if (status.terminal()) {
            return false;
        }
        cancelRequested = true;
        if (status == Status.QUEUED || status == Status.VALIDATING_FILES) {
            moveTo(Status.CANCELLED, "The job was cancelled before it started");
        }
        return true;
    }

    boolean cancelRequested() {
        return cancelRequested;
    }

    boolean pauseRequested() {
        return pauseRequested;
    }
}

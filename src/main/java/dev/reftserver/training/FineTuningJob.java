package dev.reftserver.training;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One fine-tuning job's live state. Status moves {@code validating_files -> queued -> running ->
 * succeeded | failed | cancelled}; the worker thread writes it, HTTP threads read snapshots.
 */
public final class FineTuningJob {

    public enum Status {
        VALIDATING_FILES, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;

        public String wireName() {
            return name().toLowerCase();
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

    private final String id;
    private final String tenant;
    private final Instant createdAt = Instant.now();
    private final JobSpec spec;
    private final int examples;
    private final int totalSteps;
    private final List<Event> events = new ArrayList<>();
    private Status status = Status.VALIDATING_FILES;
    private int stepsDone;
    private long trainedTokens;
    private String fineTunedModel;
    private Failure error;
    private Instant finishedAt;
    private volatile boolean cancelRequested;

    FineTuningJob(String id, String tenant, JobSpec spec, int examples, int totalSteps) {
        this.id = id;
        this.tenant = tenant;
        this.spec = spec;
        this.examples = examples;
        this.totalSteps = totalSteps;
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

    /** Events, newest first (as OpenAI lists them). */
    public synchronized List<Event> events() {
        List<Event> out = new ArrayList<>(events);
        java.util.Collections.reverse(out);
        return out;
    }

    /** Events from the {@code from}-th on (0-based), oldest first: what a live stream has not sent yet. */
    public synchronized List<Event> eventsFrom(int from) {
        return from >= events.size() ? List.of() : List.copyOf(events.subList(from, events.size()));
    }

    synchronized void event(String message) {
        events.add(new Event(id.replace("ftjob-", "ftevent-") + "-" + events.size(), Instant.now(), "info", message,
                "message", Map.of()));
    }

    synchronized void moveTo(Status next, String message) {
        status = next;
        if (next.terminal()) {
            finishedAt = Instant.now();
        }
        event(message);
    }

    synchronized Status status() {
        return status;
    }

    synchronized void stepped(TrainingRun.StepReport r, long tokens) {
        stepsDone = r.step();
        trainedTokens += tokens;
        Map<String, Object> data = new java.util.LinkedHashMap<>();
        data.put("step", r.step());
        data.put("total_steps", totalSteps);
        data.put("train_loss", r.loss());
        data.put("learning_rate", r.learningRate());
        data.put("grad_norm", r.gradNorm());
        events.add(new Event(id.replace("ftjob-", "ftevent-") + "-" + events.size(), Instant.now(), "info",
                String.format("Step %d/%d: training loss=%.4f", r.step(), totalSteps, r.loss()), "metrics", data));
    }

    synchronized void succeeded(String model) {
        fineTunedModel = model;
        moveTo(Status.SUCCEEDED, "The job has successfully completed; new intervention version " + model);
    }

    synchronized void failed(Failure failure) {
        error = failure;
        moveTo(Status.FAILED, "The job failed: " + failure.message());
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
}

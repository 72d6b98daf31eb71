package dev.reftserver.training;

import dev.reftserver.config.KvCacheBudget;
import dev.reftserver.engine.DeviceTimeShare;
import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.Names;
import dev.reftserver.registry.QuotaExceededException;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.StoredJob;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpStatus;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Fine-tuning jobs: checked when created, then run one at a time on a single background thread beside the
 * engine (both read the same frozen weights). A job that succeeds registers its bundle through the normal upload
 * path as the next version of its suffix, only after its last step, so it is immediately usable and a job that
 * dies earlier never leaves a version of it behind; the two epochs before its last leave checkpoints of their own
 * ({@link JobCheckpoints}), and its metrics are kept as its results file ({@link JobResults}).
 *
 * <p>Jobs and their events live in the registry store, with each running job's training state ({@link
 * TrainingRun#state}), kept every {@link #KEEP_STATE_NANOS} and at each epoch's end. A job runs in one process at a
 * time, its owner ({@link #replica()}), which marks it alive every quarter of {@code reft.training.job-lease}. A
 * server that stops keeps its running job's state and gives up its jobs ({@link RegistryStore#releaseJobs}); one that
 * dies stops marking them alive. Either way another server sharing the store (or this one, started again) takes them
 * over, at its start and then every quarter lease, and goes on where they were: from the kept state, repeating
 * silently the updates taken since, which come out the same (a run's batches depend only on the update's number and
 * the seed). A job that cannot go on (its file deleted, another base model served) fails with
 * {@link #RESUME_FAILED}. Several replicas on one PostgreSQL store each train the jobs they run, side by side; any
 * of them shows, follows and cancels any job.
 */
public final class FineTuningJobs implements AutoCloseable {

    /** The error code of a job a server took over but could not go on with. */
    public static final String RESUME_FAILED = "resume_failed";

    /** How often a running job's training state is kept at least (also at each epoch's end). */
    static final long KEEP_STATE_NANOS = 10_000_000_000L;

    private static final Logger log = LoggerFactory.getLogger(FineTuningJobs.class);
    private static final SecureRandom IDS = new SecureRandom();
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final TransformerLM model;
    private final TrainingFiles files;
    private final InterventionUploads uploads;
    private final RegistryStore store;
    private final TrainingProperties limits;
    private final BundleLimits bundleLimits;
    private final String baseModel;
    private final DeviceTimeShare share;
    private final JobCheckpoints checkpoints;
    /** {@code reft.training.max-step-memory} in bytes. */
    private final long maxStepBytes;
    /** Jobs this process accepted and has not finished; the store holds every job. */
    private final Map<String, FineTuningJob> live = new ConcurrentHashMap<>();
    private final Object admission = new Object();
    /** This process's name in the store: the owner of the jobs it accepts. */
    private final String replica;
    private final Duration lease;
    private final ScheduledExecutorService leases;
    private volatile boolean stopping;
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "reft-training");
        t.setDaemon(true);
        return t;
    });

    public FineTuningJobs(TransformerLM model, TrainingFiles files,
            InterventionUploads uploads, RegistryStore store, TrainingProperties limits, BundleLimits bundleLimits,
            String baseModel, DeviceTimeShare share) {
        this.model = model;
        this.files = files;
        this.uploads = uploads;
        this.store = store;
        this.limits = limits;
        this.bundleLimits = bundleLimits;
        this.baseModel = baseModel;
        this.share = share;
        this.checkpoints = new JobCheckpoints(uploads, store, bundleLimits);
        this.maxStepBytes = KvCacheBudget.parseMemory("reft.training.max-step-memory", limits.maxStepMemory(),
                KvCacheBudget.physicalMemory());
        String host = System.getenv("HOSTNAME");
        this.replica = (host == null || host.isBlank() ? "replica" : host.strip()) + "-"
                + HexFormat.of().formatHex(randomBytes(), 0, 4);
        this.lease = limits.jobLease();
        resumeAbandoned();
        this.leases = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "reft-training-lease");
            t.setDaemon(true);
            return t;
        });
        long every = Math.max(250, lease.toMillis() / 4);
        leases.scheduleWithFixedDelay(this::renewLeases, every, every, TimeUnit.MILLISECONDS);
    }

    /** This process's name as the owner of the jobs it accepts. */
    public String replica() {
        return replica;
    }

    /**
     * Takes over the unfinished jobs no server runs (given up by one that stopped, or whose server fell silent for
     * a lease), as many as this server's queue has room for, and queues them to go on where they are: at start,
     * before serving anything, and then every quarter lease.
     */
    private void resumeAbandoned() {
        int room = limits.maxTotalQueuedJobs() - live.size();
        if (stopping || room <= 0) {
            return;
        }
        for (StoredJob s : store.claimAbandonedJobs(lease, replica, room)) {
            resume(s);
        }
    }

    /** Rebuilds a claimed job's run from its request and kept state and queues it; fails it where it cannot. */
    private void resume(StoredJob s) {
        FineTuningJob job = load(s);
        TrainingRun run = null;
        try {
            JobSpec spec = job.snapshot().spec();
            if (spec == null) {
                throw new IllegalStateException("it was made for another base model than '" + baseModel + "'");
            }
            TrainingFile file = files.examples(s.tenant(), spec.trainingFile(), "training_file").orElseThrow(() ->
                    new IllegalStateException("its training file '" + spec.trainingFile() + "' was deleted"));
            List<TrainingExample> validation = validationExamples(s.tenant(), spec);
            List<TrainingExample> examples = files.tokenize(file);
            BundleContents init = initialBundle(s.tenant(), spec);
            run = TrainingRun.start(model, init, examples, spec.settings(file.examples().size()));
            Optional<byte[]> state = store.jobTrainingState(s.tenant(), s.id());
            if (state.isPresent()) {
                try {
                    run.restore(state.get());
                } catch (IllegalArgumentException e) {
                    // A state this version cannot read: from the start, taking every reported update again.
                    log.warn("fine-tuning job {}: its kept state is unusable ({}); going on from its start", s.id(),
                            e.getMessage());
                    run.close();
                    run = TrainingRun.start(model, init, examples, spec.settings(file.examples().size()));
                }
            }
            // Its events say how far it got: a job row and its event are two writes, and a server may have died
            // between them.
            int reported = job.lastReportedStep();
            live.put(job.id(), job);
            if (s.status().equals("running")) {
                job.event(reported == 0 ? "The server running the job stopped; it starts here"
                        : "The server running the job stopped; it goes on here after step " + reported);
            }
            log.info("fine-tuning job {} of {} taken over after step {} (state kept at update {})", s.id(),
                    s.tenant(), reported, run.stepsDone());
            TrainingRun queued = run;
            worker.submit(() -> execute(job, queued, validation, reported));
        } catch (RuntimeException e) {
            live.remove(job.id());
            if (run != null) {
                run.close();
            }
            log.warn("fine-tuning job {} cannot go on: {}", s.id(), e.getMessage());
            job.failed(new FineTuningJob.Failure(RESUME_FAILED, "the server running the job stopped and the job "
                    + "cannot go on here: " + e.getMessage() + "; start a new job", null));
        }
    }

    /**
     * Marks this replica's jobs alive, takes over abandoned ones and deletes expired files; a store fault waits for
     * next time.
     */
    private void renewLeases() {
        try {
            // Only jobs a worker still holds: one whose worker gave up (the store failed under it) lapses.
            store.heartbeatJobs(replica, List.copyOf(live.keySet()));
            resumeAbandoned();
            files.deleteExpired(); // housekeeping beside the leases: expired files' space back
        } catch (RuntimeException e) {
            log.warn("cannot renew the fine-tuning jobs' leases: {}", e.toString());
        }
    }

    private FineTuningJob load(StoredJob s) {
        JobSpec spec;
        try {
            spec = JobSpec.parse(JSON.readTree(s.request()), model.config().shape(), baseModel);
        } catch (RuntimeException e) {
            spec = null; // accepted for another base model; the job is shown without its hyperparameters
        }
        return new FineTuningJob(store, s, spec, store.jobEvents(s.tenant(), s.id(), 0).size());
    }

    /**
     * @throws ServiceException 400 for a base model that cannot be trained, a bad request, an unknown file or
     *                          impossible hyperparameters; 429 over quota
     */
    public FineTuningJob create(String tenant, JsonNode body) {
        String untrainable = model.training().untrainable();
        if (untrainable != null) {
            throw ServiceException.invalidRequest("model", "the base model '" + baseModel
                    + "' cannot be trained by this server: " + untrainable);
        }
        JobSpec spec = JobSpec.parse(body, model.config().shape(), baseModel);
        TrainingFile file = files.examples(tenant, spec.trainingFile(), "training_file").orElseThrow(() ->
                ServiceException.invalidRequest("training_file", "training file '" + spec.trainingFile()
                        + "' not found"));
        int steps = spec.steps(file.examples().size());
        if (steps > limits.maxSteps()) {
            throw ServiceException.invalidRequest("method.reft.hyperparameters.max_steps", "the job would take "
                    + steps + " steps, more than the " + limits.maxSteps() + " allowed");
        }
        checkQuota(tenant);
        List<TrainingExample> examples = files.tokenize(file);
        checkStepMemory(spec, examples, "training_file");
        List<TrainingExample> validation = validationExamples(tenant, spec);
        BundleContents init = initialBundle(tenant, spec);
        TrainingRun run;
        try {
            run = TrainingRun.start(model, init, examples, spec.settings(file.examples().size()));
        } catch (IllegalArgumentException e) {
            throw ServiceException.invalidRequest("training_file", "training file '" + file.id() + "': "
                    + e.getMessage());
        }
        try {
            FineTuningJob job;
            synchronized (admission) {
                checkQuota(tenant); // again, with the admission of others serialized
                job = new FineTuningJob(store, "ftjob-" + HexFormat.of().formatHex(randomBytes()), tenant,
                        body.toString(), spec, file.examples().size(), steps, replica);
                live.put(job.id(), job);
            }
            job.event("Validating training file: " + file.id());
            if (validation != null) {
                job.event("Validating validation file: " + spec.validationFile());
            }
            job.moveTo(FineTuningJob.Status.QUEUED, "Files validated, moving job to queued state");
            worker.submit(() -> execute(job, run, validation, 0));
            return job;
        } catch (RuntimeException e) {
            run.close();
            throw e;
        }
    }

    /** The validation file's examples, checked as training examples are; null without one. */
    private List<TrainingExample> validationExamples(String tenant, JobSpec spec) {
        if (spec.validationFile() == null) {
            return null;
        }
        TrainingFile file = files.examples(tenant, spec.validationFile(), "validation_file").orElseThrow(() ->
                ServiceException.invalidRequest("validation_file", "validation file '" + spec.validationFile()
                        + "' not found"));
        List<TrainingExample> examples = files.tokenize(file);
        try {
            TrainingRun.check(model, examples);
        } catch (IllegalArgumentException e) {
            throw ServiceException.invalidRequest("validation_file", "validation file '" + file.id() + "': "
                    + e.getMessage());
        }
        checkStepMemory(spec, examples, "validation_file");
        return examples;
    }

    /**
     * Refuses a job whose largest update would need more memory than {@code reft.training.max-step-memory}
     * ({@link TrainingMemory}): the batch holding the longest example, its rows padded to it (a validation batch,
     * evaluated without gradients, is held to the same bound).
     */
    private void checkStepMemory(JobSpec spec, List<TrainingExample> examples, String param) {
        int longest = 0;
        for (TrainingExample ex : examples) {
            longest = Math.max(longest, ex.inputIds().length);
        }
        int rows = Math.min(spec.batchSize(), examples.size());
        int first = spec.layers().stream().mapToInt(Integer::intValue).min().orElse(0);
        long need = TrainingMemory.stepBytes(model.config(), first, rows, longest,
                model.weightDtype().equals("bfloat16"));
        if (need > maxStepBytes) {
            throw ServiceException.invalidRequest(param, String.format(Locale.ROOT,
                    "a training update of %d example%s of up to %d tokens from layer %d on needs about %s, more "
                            + "than reft.training.max-step-memory allows (%s): shorten the examples, lower "
                            + "batch_size or train later layers", rows, rows == 1 ? "" : "s", longest, first,
                    size(need), size(maxStepBytes)));
        }
    }

    private static String size(long bytes) {
        return bytes >= 1_000_000_000L ? String.format(Locale.ROOT, "%.1f GB", bytes / 1e9)
                : String.format(Locale.ROOT, "%d MB", (bytes + 999_999) / 1_000_000);
    }

    /** Per tenant, at most {@code max-queued-jobs} unfinished; on the server, at most {@code max-total-queued-jobs}. */
    private void checkQuota(String tenant) {
        long mine = store.jobs(tenant).stream().filter(j -> !j.terminal()).count();
        if (mine >= limits.maxQueuedJobs()) {
            throw new ServiceException(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error", null, "too_many_jobs",
                    "this tenant already has " + mine + " fine-tuning jobs queued or running (at most "
                            + limits.maxQueuedJobs() + "); wait for one to finish or cancel one");
        }
        if (live.size() >= limits.maxTotalQueuedJobs()) {
            throw new ServiceException(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error", null, "training_queue_full",
                    "the server already has " + live.size() + " fine-tuning jobs queued or running; try again later");
        }
    }

    private BundleContents initialBundle(String tenant, JobSpec spec) {
        String param = "method.reft.hyperparameters.init_intervention";
        if (spec.initIntervention() == null) {
            try {
                return InitialBundle.create(model.config().shape(), spec.type(), spec.layers(), spec.rank(),
                        spec.positions(), spec.shareWeights(), spec.seed());
            } catch (IllegalArgumentException e) {
                throw ServiceException.invalidRequest("method.reft.hyperparameters", e.getMessage());
            }
        }
        Names.Ref ref;
        try {
            ref = Names.Ref.parse(spec.initIntervention());
        } catch (RuntimeException e) {
            throw ServiceException.invalidRequest(param, "init_intervention must be name or name@version");
        }
        Optional<InterventionVersion> version = ref.pinned()
                ? store.version(tenant, ref.name(), ref.version()) : store.latest(tenant, ref.name());
        byte[] bytes = version.flatMap(v -> store.bundle(tenant, v.name(), v.version()))
                .orElseThrow(() -> ServiceException.invalidRequest(param, "intervention '" + spec.initIntervention()
                        + "' not found"));
        BundleContents contents;
        try {
            contents = BundleContents.read(bytes, model.config().shape(), bundleLimits);
        } catch (BundleRejectedException e) {
            throw ServiceException.invalidRequest(param, e.getMessage());
        }
        for (BundleContents.Entry e : contents.interventions()) {
            if (!"linear".equals(e.act())) {
                throw ServiceException.invalidRequest(param, "intervention '" + spec.initIntervention() + "' uses the "
                        + e.act() + " activation; only linear interventions can be trained");
            }
        }
        return contents;
    }

    /**
     * Runs a job on the worker thread, from its run's state: the first update, or for a job taken over the state
     * its last server kept, whose updates up to {@code reportedUpTo} are taken again without a report (that server
     * reported them).
     *
     * @param validation held-out examples, or null: a batch of them is scored at each update, all of them at each
     *                   epoch's end and at the last update
     */
    private void execute(FineTuningJob job, TrainingRun run, List<TrainingExample> validation, int reportedUpTo) {
        try (run) {
            if (job.cancelRequested() || stopping) {
                return; // a stopping server gives the job up at close, for the next one
            }
            if (job.status() != FineTuningJob.Status.RUNNING) {
                job.moveTo(FineTuningJob.Status.RUNNING, reportedUpTo == 0 ? FineTuningJob.STARTED
                        : FineTuningJob.RESUMED + reportedUpTo);
            }
            long kept = System.nanoTime();
            while (!run.finished()) {
                if (job.cancelRequested()) {
                    job.moveTo(FineTuningJob.Status.CANCELLED, "The job was cancelled after "
                            + run.stepsDone() + " steps");
                    return;
                }
                if (stopping) {
                    job.keep(run.state());
                    job.event("The server running the job is stopping after step " + run.stepsDone()
                            + "; the job goes on where it is on the next server to take it");
                    return;
                }
                if (job.pauseRequested()) {
                    job.keep(run.state());
                    job.moveTo(FineTuningJob.Status.PAUSED, "The job was paused after step " + run.stepsDone());
                    return;
                }
                if (!share.awaitTrainingTurn(() -> job.cancelRequested() || stopping)) {
                    continue; // the loop's checks say why
                }
                long started = System.nanoTime();
                TrainingRun.StepReport r;
                try {
                    r = run.step();
                } finally {
                    share.trainingRan(System.nanoTime() - started);
                }
                if (r.step() <= reportedUpTo) {
                    continue; // taken again after a takeover: the same update its first server reported
                }
                boolean epochEnd = r.step() % run.stepsPerEpoch() == 0;
                TrainingRun.Validation batch = validation != null ? validate(job, run,
                        TrainingRun.validationBatch(validation, run.settings().batchSize(), r.step())) : null;
                TrainingRun.Validation full = validation != null && (epochEnd || run.finished())
                        ? validate(job, run, validation) : null;
                if (JobCheckpoints.due(r.step(), run.stepsPerEpoch(), run.totalSteps())) {
                    checkpoints.make(job, run, r.step()); // before the step's report: a takeover finds it made
                }
                boolean keep = epochEnd || System.nanoTime() - kept >= KEEP_STATE_NANOS;
                job.stepped(r, run.lastBatchTokens(), batch, full, keep ? run.state() : null);
                if (keep) {
                    kept = System.nanoTime();
                }
            }
            byte[] zip = run.bundle().toNativeZip(bundleLimits);
            job.touch(); // a cancel asked through another replica meanwhile
            if (job.cancelRequested()) {
                job.moveTo(FineTuningJob.Status.CANCELLED, "The job was cancelled before its result was registered");
                return;
            }
            String name = job.snapshot().spec().suffix() != null ? job.snapshot().spec().suffix()
                    : job.id().replace("ftjob-", "ft-");
            InterventionVersion v;
            try {
                v = uploads.upload(job.tenant(), name, null, zip, null, null);
            } catch (QuotaExceededException e) {
                // The job's own checkpoints give their room to its result.
                if (checkpoints.deleteAll(job) == 0) {
                    throw e;
                }
                job.event("The job's checkpoints were deleted to make room for its result in the tenant's quota");
                v = uploads.upload(job.tenant(), name, null, zip, null, null);
            }
            files.keepResults(job.tenant(), FineTuningJob.resultsFileId(job.id()), job.id() + "-results.csv",
                    JobResults.csv(job.eventsFrom(0)));
            try {
                job.succeeded(v.id());
            } catch (FineTuningJob.Taken t) {
                store.deleteVersion(v.tenant(), v.name(), v.version()); // its new owner registers its own
                throw t;
            }
        } catch (FineTuningJob.Taken e) {
            log.info("fine-tuning job {} was finished or taken over by another server; stopped here", job.id());
        } catch (ServiceException e) {
            job.failed(new FineTuningJob.Failure(e.code() == null ? "invalid_result" : e.code(), e.getMessage(),
                    e.param()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // stopping: the job is given up at close, for the next server
        } catch (RuntimeException | Error e) {
            log.warn("fine-tuning job {} failed", job.id(), e);
            try {
                job.failed(new FineTuningJob.Failure("training_error", String.valueOf(e.getMessage()), null));
            } catch (RuntimeException again) {
                log.warn("cannot record the failure of fine-tuning job {}", job.id(), again);
            }
        } finally {
            live.remove(job.id());
        }
    }

    /**
     * The loss over validation examples at the run's current weights, a batch at a time in the training's share
     * of the device; null when the job is cancelled or the server stops meanwhile.
     */
    private TrainingRun.Validation validate(FineTuningJob job, TrainingRun run, List<TrainingExample> examples)
            throws InterruptedException {
        TrainingRun.Validation v = run.validation(examples);
        while (!v.done()) {
            job.touch(); // a cancel asked through another replica
            if (job.cancelRequested() || stopping) {
                return null;
            }
            if (!share.awaitTrainingTurn(() -> job.cancelRequested() || stopping)) {
                continue;
            }
            long started = System.nanoTime();
            try {
                v.next();
            } finally {
                share.trainingRan(System.nanoTime() - started);
            }
        }
        return v;
    }

    /** The tenant's job; another tenant's id is as unknown as one that never existed. */
    public Optional<FineTuningJob> get(String tenant, String id) {
        FineTuningJob j = id == null ? null : live.get(id);
        if (j != null) {
            return j.tenant().equals(tenant) ? Optional.of(j) : Optional.empty();
        }
        return id == null ? Optional.empty() : store.job(tenant, id).map(this::load);
    }

    /** The job's checkpoints still registered, newest first (its result first where it succeeded). */
    public List<JobCheckpoints.Checkpoint> checkpoints(FineTuningJob job) {
        return checkpoints.list(job);
    }

    /** The tenant's jobs, newest first. */
    public List<FineTuningJob> list(String tenant) {
        return store.jobs(tenant).stream().map(s -> {
            FineTuningJob j = live.get(s.id());
            return j != null ? j : load(s);
        }).toList();
    }
    /**
     * Stops a job within one step (or before it starts).
     *
     * @throws ServiceException 404 for an unknown job, 409 for one already finished
     */
    public FineTuningJob cancel(String tenant, String id) {
        FineTuningJob job = get(tenant, id).orElseThrow(() -> notFound(id));
        if (live.containsKey(id)) {
            if (!job.requestCancel()) {
                throw finished(job);
            }
            return job;
        }
        // Another replica's job (or one already finished): through the store, which that replica reads at each step.
        RegistryStore.JobCancel done = store.cancelJob(tenant, id, Instant.now().truncatedTo(ChronoUnit.MILLIS));
        FineTuningJob now = get(tenant, id).orElseThrow(() -> notFound(id));
        switch (done) {
            case CANCELLED -> now.event(job.status() == FineTuningJob.Status.PAUSED ? "The job was cancelled while "
                    + "paused, after step " + job.snapshot().stepsDone() : "The job was cancelled before it started");
            case FINISHED -> throw finished(now);
            case UNKNOWN -> throw notFound(id);
            case REQUESTED -> { }
        }
        return now;
    }

    /**
     * Pauses a job: a queued one at once, a running one after its current update (its training state kept); it
     * stays paused, run by no server, until {@link #resume}.
     *
     * @throws ServiceException 404 for an unknown job, 409 for one finished or already paused
     */
    public FineTuningJob pause(String tenant, String id) {
        switch (store.pauseJob(tenant, id)) {
            case UNKNOWN -> throw notFound(id);
            case NOT_APPLICABLE -> throw ServiceException.conflict("fine-tuning job " + id + " is "
                    + get(tenant, id).orElseThrow(() -> notFound(id)).status().wireName() + ": only a queued or "
                    + "running job can be paused");
            case DONE -> {
                live.remove(id); // its queued start here will be refused: the store says paused
                get(tenant, id).orElseThrow(() -> notFound(id)).event("The job was paused before it started");
            }
            case REQUESTED -> { }
        }
        return get(tenant, id).orElseThrow(() -> notFound(id));
    }

    /**
     * Resumes a paused job where it was: queued again, for this server (or another sharing the store) to take over.
     *
     * @throws ServiceException 404 for an unknown job, 409 for one not paused
     */
    public FineTuningJob resume(String tenant, String id) {
        switch (store.resumeJob(tenant, id)) {
            case UNKNOWN -> throw notFound(id);
            case NOT_APPLICABLE -> throw ServiceException.conflict("fine-tuning job " + id + " is "
                    + get(tenant, id).orElseThrow(() -> notFound(id)).status().wireName() + ", not paused");
            default -> { }
        }
        try {
            resumeAbandoned(); // here at once, where there is room; else whichever server next has it
        } catch (RuntimeException e) {
            log.warn("cannot take over resumed fine-tuning job {} now: {}", id, e.toString());
        }
        return get(tenant, id).orElseThrow(() -> notFound(id));
    }

    private static ServiceException finished(FineTuningJob job) {
        return ServiceException.conflict("fine-tuning job " + job.id() + " has already "
                + job.status().wireName());
    }

    public static ServiceException notFound(String id) {
        return ServiceException.notFound("fine_tuning_job_id", "fine-tuning job '" + id + "' not found");
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return b;
    }

    @Override
    public void close() {
        stopping = true; // a running job keeps its state after its step; queued ones are left as they are
        leases.shutdownNow();
        worker.shutdown();
        try {
            if (!worker.awaitTermination(30, TimeUnit.SECONDS)) {
                worker.shutdownNow();
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
        try {
            store.releaseJobs(replica); // for the next server to take over at once
        } catch (RuntimeException e) {
            log.warn("cannot give up the fine-tuning jobs at shutdown ({}); another server takes them over once "
                    + "their lease runs out", e.toString());
        }
    }
}

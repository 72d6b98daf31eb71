package dev.reftserver.training;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.Names;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.tokenizer.TextTokenizer;
import java.security.SecureRandom;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;

/**
 * Fine-tuning jobs: checked when created, then run one at a time on a single background thread beside the
 * engine (both read the same frozen weights; training does not yet take turns with serving steps, so it competes
 * with them for the CPU). A job that succeeds registers its bundle through the normal upload path as the next
 * version of its suffix, so it is immediately usable. Jobs live in memory: a restart forgets them.
 */
public final class FineTuningJobs implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(FineTuningJobs.class);
    private static final SecureRandom IDS = new SecureRandom();

    private final TransformerLM model;
    private final TextTokenizer tokenizer;
    private final TrainingFiles files;
    private final InterventionUploads uploads;
    private final RegistryStore store;
    private final TrainingProperties limits;
    private final BundleLimits bundleLimits;
    private final String baseModel;
    private final Map<String, FineTuningJob> jobs = new ConcurrentHashMap<>();
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "reft-training");
        t.setDaemon(true);
        return t;
    });

    public FineTuningJobs(TransformerLM model, TextTokenizer tokenizer, TrainingFiles files,
            InterventionUploads uploads, RegistryStore store, TrainingProperties limits, BundleLimits bundleLimits,
            String baseModel) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.files = files;
        this.uploads = uploads;
        this.store = store;
        this.limits = limits;
        this.bundleLimits = bundleLimits;
        this.baseModel = baseModel;
    }

    /** @throws ServiceException 400 for a bad request, an unknown file or impossible hyperparameters */
    public FineTuningJob create(String tenant, JsonNode body) {
        JobSpec spec = JobSpec.parse(body, model.config().shape(), baseModel);
        TrainingFile file = files.get(tenant, spec.trainingFile()).orElseThrow(() -> ServiceException
                .invalidRequest("training_file", "training file '" + spec.trainingFile() + "' not found"));
        int steps = spec.steps(file.examples().size());
        if (steps > limits.maxSteps()) {
            throw ServiceException.invalidRequest("method.reft.hyperparameters.max_steps", "the job would take "
                    + steps + " steps, more than the " + limits.maxSteps() + " allowed");
        }
        long live = jobs.values().stream().filter(j -> j.tenant().equals(tenant) && !j.status().terminal()).count();
        if (live >= limits.maxQueuedJobs()) {
            throw new ServiceException(org.springframework.http.HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error",
                    null, "too_many_jobs", "this tenant already has " + live + " jobs queued or running");
        }
        BundleContents init = initialBundle(tenant, spec);
        FineTuningJob job = new FineTuningJob("ftjob-" + HexFormat.of().formatHex(randomBytes()), tenant, spec,
                file.examples().size(), steps);
        job.event("Validating training file: " + file.id());
        TrainingRun run;
        try {
            run = TrainingRun.start(model, tokenizer, init, file.examples(), spec.settings(file.examples().size()));
        } catch (IllegalArgumentException e) {
            throw ServiceException.invalidRequest("training_file", "training file '" + file.id() + "': "
                    + e.getMessage());
        }
        jobs.put(job.id(), job);
        job.moveTo(FineTuningJob.Status.QUEUED, "Files validated, moving job to queued state");
        worker.submit(() -> execute(job, run));
        return job;
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

    private void execute(FineTuningJob job, TrainingRun run) {
        try (run) {
            if (job.cancelRequested()) {
                return;
            }
            job.moveTo(FineTuningJob.Status.RUNNING, "Fine-tuning job started");
            while (!run.finished()) {
                if (job.cancelRequested()) {
                    job.moveTo(FineTuningJob.Status.CANCELLED, "The job was cancelled after "
                            + run.stepsDone() + " steps");
                    return;
                }
                TrainingRun.StepReport r = run.step();
                job.stepped(r, run.lastBatchTokens());
            }
            byte[] zip = run.bundle().toNativeZip(bundleLimits);
            if (job.cancelRequested()) {
                job.moveTo(FineTuningJob.Status.CANCELLED, "The job was cancelled before its result was registered");
                return;
            }
            String name = job.snapshot().spec().suffix() != null ? job.snapshot().spec().suffix()
                    : job.id().replace("ftjob-", "ft-");
            InterventionVersion v = uploads.upload(job.tenant(), name, null, zip, null, null);
            job.succeeded(v.id());
        } catch (ServiceException e) {
            job.failed(new FineTuningJob.Failure(e.code() == null ? "invalid_result" : e.code(), e.getMessage(),
                    e.param()));
        } catch (RuntimeException | Error e) {
            log.warn("fine-tuning job {} failed", job.id(), e);
            job.failed(new FineTuningJob.Failure("training_error", String.valueOf(e.getMessage()), null));
        }
    }

    /** The tenant's job; another tenant's id is as unknown as one that never existed. */
    public Optional<FineTuningJob> get(String tenant, String id) {
        FineTuningJob j = id == null ? null : jobs.get(id);
        return j != null && j.tenant().equals(tenant) ? Optional.of(j) : Optional.empty();
    }

    /** The tenant's jobs, newest first. */
    public List<FineTuningJob> list(String tenant) {
        return jobs.values().stream().filter(j -> j.tenant().equals(tenant))
                .sorted(Comparator.comparing((FineTuningJob j) -> j.snapshot().createdAt()).reversed()
                        .thenComparing(FineTuningJob::id))
                .toList();
    }

    /**
     * Stops a job within one step (or before it starts).
     *
     * @throws ServiceException 404 for an unknown job, 409 for one already finished
     */
    public FineTuningJob cancel(String tenant, String id) {
        FineTuningJob job = get(tenant, id).orElseThrow(() -> notFound(id));
        if (!job.requestCancel()) {
            throw ServiceException.conflict("fine-tuning job " + id + " has already "
                    + job.status().wireName());
        }
        return job;
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
        jobs.values().forEach(FineTuningJob::requestCancel);
        worker.shutdown();
        try {
            if (!worker.awaitTermination(30, TimeUnit.SECONDS)) {
                worker.shutdownNow();
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}

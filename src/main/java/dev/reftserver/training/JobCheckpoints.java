package dev.reftserver.training;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.registry.InterventionInUseException;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.Names;
import dev.reftserver.registry.RegistryStore;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A fine-tuning job's checkpoints, as OpenAI keeps them: the interventions at the end of each of the last
 * {@link #KEPT} epochs before the job's end are registered as an intervention of their own,
 * {@code <job id>.ckpt-step-<N>@1}, usable at once as a completion's {@code model}, and the job's result is its last
 * checkpoint: the last three epochs. Earlier epochs' would only be deleted as later ones came, so they are never
 * made (a file of a few examples makes every update an epoch); a job stopped before its last epochs has none. When
 * the job's result does not fit the tenant's quota, its checkpoints are deleted to make room ({@link #deleteAll}),
 * but for those a task routes to. A checkpoint is made before its step is reported, so a server that takes the job
 * over after that step finds it made; one made before a takeover under the same name is used again (the run takes
 * the same updates again, to the same weights). Checkpoints are found from the job's events: each made one is
 * announced by a {@code message} event whose data names it.
 */
public final class JobCheckpoints {

    /** How many epochs before the last leave a checkpoint: with the job's result, the last three, as OpenAI keeps. */
    static final int KEPT = 2;

    /** The key of a checkpoint event's data naming the checkpoint's model. */
    static final String MODEL_KEY = "fine_tuned_model_checkpoint";

    /** One checkpoint: the model it registered, the update it was taken after, and that update's metrics. */
    public record Checkpoint(String id, Instant createdAt, String model, int step, Map<String, Object> metrics) {
    }

    private final InterventionUploads uploads;
    private final RegistryStore store;
    private final BundleLimits limits;

    JobCheckpoints(InterventionUploads uploads, RegistryStore store, BundleLimits limits) {
        this.uploads = uploads;
        this.store = store;
        this.limits = limits;
    }

    /**
     * Whether update {@code step} (1-based) ends one of the last {@link #KEPT} epochs before the run's end, the
     * epochs whose interventions are kept as checkpoints.
     */
    static boolean due(int step, int stepsPerEpoch, int totalSteps) {
        if (step % stepsPerEpoch != 0 || step >= totalSteps) {
            return false;
        }
        int lastEnd = (totalSteps - 1) / stepsPerEpoch * stepsPerEpoch;
        return lastEnd - step < (long) KEPT * stepsPerEpoch;
    }

    /** The intervention name of the job's checkpoint after update {@code step}. */
    static String name(String jobId, int step) {
        return jobId + ".ckpt-step-" + step;
    }

    /**
     * Registers the run's interventions as the checkpoint after update {@code step}. A checkpoint the tenant's quota
     * has no room for is skipped, with an event saying why: the job goes on.
     */
    void make(FineTuningJob job, TrainingRun run, int step) {
        String name = name(job.id(), step);
        Optional<InterventionVersion> made = store.latest(job.tenant(), name);
        InterventionVersion v;
        try {
            v = made.isPresent() ? made.get()
                    : uploads.upload(job.tenant(), name, null, run.bundle().toNativeZip(limits), null, null);
        } catch (ServiceException e) {
            job.event("No checkpoint at step " + step + ": " + e.getMessage());
            return;
        }
        job.checkpointed(step, v.id());
    }

    /** Deletes every checkpoint of the job but those a task routes to; returns how many went. */
    int deleteAll(FineTuningJob job) {
        int deleted = 0;
        for (Checkpoint c : list(job, false)) {
            Names.Ref ref = Names.Ref.parse(c.model());
            try {
                if (store.deleteVersion(job.tenant(), ref.name(), ref.version())) {
                    deleted++;
                }
            } catch (InterventionInUseException e) {
                // a task routes to it: it stays until the tenant changes the task
            }
        }
        return deleted;
    }

    /** The job's checkpoints that still exist, newest first, its result first where it succeeded. */
    List<Checkpoint> list(FineTuningJob job) {
        return list(job, true);
    }

    private List<Checkpoint> list(FineTuningJob job, boolean withResult) {
        Map<Integer, Map<String, Object>> metrics = new TreeMap<>();
        Map<Integer, Checkpoint> made = new TreeMap<>(Comparator.reverseOrder());
        for (FineTuningJob.Event e : job.eventsFrom(0)) {
            Object step = e.data().get("step");
            if (!(step instanceof Number n)) {
                continue;
            }
            if (e.type().equals("metrics")) {
                metrics.put(n.intValue(), e.data());
            } else if (e.data().get(MODEL_KEY) instanceof String model) {
                made.put(n.intValue(), new Checkpoint(null, e.createdAt(), model, n.intValue(), null));
            }
        }
        FineTuningJob.Snapshot s = job.snapshot();
        if (withResult && s.status() == FineTuningJob.Status.SUCCEEDED && s.fineTunedModel() != null) {
            int last = metrics.keySet().stream().mapToInt(Integer::intValue).max().orElse(s.stepsDone());
            made.put(last, new Checkpoint(null, s.finishedAt(), s.fineTunedModel(), last, null));
        }
        List<Checkpoint> out = new ArrayList<>();
        for (Checkpoint c : made.values()) {
            Names.Ref ref = Names.Ref.parse(c.model());
            if (ref != null && store.version(job.tenant(), ref.name(), ref.version()).isPresent()) {
                out.add(new Checkpoint(job.id().replace("ftjob-", "ftckpt-") + "-" + c.step(), c.createdAt(),
                        c.model(), c.step(), metricsOf(c.step(), metrics.get(c.step()))));
            }
        }
        return out;
    }

    /** OpenAI's checkpoint metrics, from the update's metrics event. */
    private static Map<String, Object> metricsOf(int step, Map<String, Object> event) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        if (event != null) {
            for (String key : List.of("train_loss", "train_mean_token_accuracy", "valid_loss",
                    "valid_mean_token_accuracy", "full_valid_loss", "full_valid_mean_token_accuracy")) {
                if (event.get(key) != null) {
                    m.put(key, event.get(key));
                }
            }
        }
        return m;
    }
}

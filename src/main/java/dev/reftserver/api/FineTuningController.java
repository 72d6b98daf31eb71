package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.tenant.TenantPrincipal;
import dev.reftserver.training.FineTuningJob;
import dev.reftserver.training.FineTuningJobs;
import dev.reftserver.training.JobCheckpoints;
import dev.reftserver.training.JobSpec;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.tags.Tag;
import jakarta.servlet.http.HttpServletResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * OpenAI's fine-tuning jobs API, training ReFT interventions on the served base model. A job that succeeds names
 * its result in {@code fine_tuned_model}: the new intervention version {@code suffix@N}, usable at once as a
 * completion's {@code model}.
 */
@RestController
@RequestMapping("/v1/fine_tuning/jobs")
@Tag(name = "Fine-tuning", description = "Train ReFT interventions from a file of examples")
class FineTuningController {

    /** OpenAI's job object, with the effective ReFT hyperparameters under {@code method.reft}. */
    record JobView(String id, String object, String model, @JsonProperty("created_at") long createdAt,
            @JsonProperty("finished_at") Long finishedAt, @JsonProperty("fine_tuned_model") String fineTunedModel,
            @JsonProperty("organization_id") String organizationId, @JsonProperty("result_files") List<String> results,
            String status, @JsonProperty("training_file") String trainingFile,
            @JsonProperty("validation_file") String validationFile, Map<String, Object> hyperparameters,
            Map<String, Object> method, @JsonProperty("trained_tokens") Long trainedTokens, ErrorView error,
            long seed, String suffix, @JsonProperty("estimated_finish") Long estimatedFinish,
            List<Object> integrations, Map<String, Object> metadata) {

        static JobView of(FineTuningJob job) {
            FineTuningJob.Snapshot s = job.snapshot();
            Instant finish = job.estimatedFinish();
            return of(s, job.resultFiles(), finish == null ? null : finish.getEpochSecond());
        }

        private static JobView of(FineTuningJob.Snapshot s, List<String> results, Long estimatedFinish) {
            JobSpec spec = s.spec();
            FineTuningJob.Failure f = s.error();
            ErrorView error = f == null ? null : new ErrorView(f.code(), f.message(), f.param());
            if (spec == null) { // a stored job accepted for another base model: its hyperparameters no longer apply
                return new JobView(s.id(), "fine_tuning.job", null, s.createdAt().getEpochSecond(),
                        s.finishedAt() == null ? null : s.finishedAt().getEpochSecond(), s.fineTunedModel(),
                        s.tenant(), results, s.status().wireName(), null, null, Map.of(), Map.of(),
                        s.status().terminal() ? s.trainedTokens() : null, error, 0, null, estimatedFinish,
                        List.of(), null);
            }
            Map<String, Object> standard = new LinkedHashMap<>();
            standard.put("n_epochs", spec.epochs());
            standard.put("batch_size", spec.batchSize());
            standard.put("learning_rate_multiplier", spec.learningRate() / JobSpec.DEFAULT_LR);
            Map<String, Object> reft = new LinkedHashMap<>();
            reft.put("intervention_type", spec.type());
            reft.put("layers", spec.layers());
            reft.put("rank", spec.rank());
            reft.put("positions", spec.positions().toString());
            reft.put("share_weights", spec.shareWeights());
            reft.put("n_epochs", spec.epochs());
            reft.put("batch_size", spec.batchSize());
            reft.put("learning_rate", spec.learningRate());
            reft.put("weight_decay", spec.weightDecay());
            reft.put("lr_scheduler", "linear");
            reft.put("warmup_ratio", spec.warmupRatio());
            reft.put("max_steps", s.totalSteps());
            reft.put("max_grad_norm", spec.maxGradNorm());
            reft.put("init_intervention", spec.initIntervention());
            Map<String, Object> method = new LinkedHashMap<>();
            method.put("type", "reft");
            method.put("reft", Map.of("hyperparameters", reft));
            return new JobView(s.id(), "fine_tuning.job", spec.model(), s.createdAt().getEpochSecond(),
                    s.finishedAt() == null ? null : s.finishedAt().getEpochSecond(), s.fineTunedModel(),
                    s.tenant(), results, s.status().wireName(), spec.trainingFile(), spec.validationFile(),
                    standard, method,
                    s.status().terminal() ? s.trainedTokens() : null,
                    error, spec.seed(), spec.suffix(),
                    estimatedFinish, List.of(), spec.metadata() == null ? null : new LinkedHashMap<>(spec.metadata()));
        }
    }

    record ErrorView(String code, String message, String param) {
    }

    record EventView(String id, String object, @JsonProperty("created_at") long createdAt, String level,
            String message, String type, Map<String, Object> data) {

        static EventView of(FineTuningJob.Event e) {
            return new EventView(e.id(), "fine_tuning.job.event", e.createdAt().getEpochSecond(), e.level(),
                    e.message(), e.type(), e.data());
        }
    }

    /** OpenAI's checkpoint object. */
    record CheckpointView(String id, String object, @JsonProperty("created_at") long createdAt,
            @JsonProperty("fine_tuned_model_checkpoint") String fineTunedModelCheckpoint,
            @JsonProperty("fine_tuning_job_id") String fineTuningJobId, Map<String, Object> metrics,
            @JsonProperty("step_number") int stepNumber) {

        static CheckpointView of(String job, JobCheckpoints.Checkpoint c) {
            return new CheckpointView(c.id(), "fine_tuning.job.checkpoint", c.createdAt().getEpochSecond(),
                    c.model(), job, c.metrics(), c.step());
        }
    }

    private final FineTuningJobs jobs;
    private final JsonMapper json;

    FineTuningController(FineTuningJobs jobs, JsonMapper json) {
        this.jobs = jobs;
        this.json = json;
    }

    @Operation(summary = "Create a fine-tuning job", description = """
            `{model, training_file, validation_file, suffix, seed, method: {type: "reft", reft: {hyperparameters: \
            {intervention_type, \
            layers, rank, positions, share_weights, n_epochs, batch_size, learning_rate, weight_decay, lr_scheduler, \
            warmup_ratio, max_steps, max_grad_norm, init_intervention}}}}`; OpenAI's `hyperparameters` (`n_epochs`, \
            `batch_size`, `learning_rate_multiplier`) are accepted too. With a `validation_file`, each metrics event \
            carries `valid_loss` and `valid_mean_token_accuracy` over the update's batch of its examples (a batch \
            of `batch_size` each update, cycling through the file in order), and the event of each epoch's last \
            update (and of the job's last) `full_valid_loss` and `full_valid_mean_token_accuracy` over all of them. \
            Jobs run one at a time, taking at most \
            `reft.training.max-share` of the engine's time while completions are served. Jobs and events are kept \
            in the registry store with the running job's training state: a job unfinished when its server stops \
            or dies goes on where it was on the next server (code `resume_failed` where it cannot). 400 (`param: model`) where the base model cannot be trained by \
            this server (a model without a differentiable forward; every architecture served has one). 429 (`too_many_jobs`) past `reft.training.max-queued-jobs` \
            unfinished jobs per tenant, (`training_queue_full`) past `reft.training.max-total-queued-jobs` on \
            the server. A job that succeeds names its results file in `result_files`: a CSV of its metrics per \
            update (purpose `fine-tune-results`).""")
    @PostMapping
    JobView create(@AuthenticationPrincipal TenantPrincipal caller, @RequestBody(required = false) JsonNode body) {
        return JobView.of(jobs.create(caller.tenant(), body));
    }

    @Operation(summary = "List the caller's fine-tuning jobs, newest first", description = """
            A page of `limit` (20) jobs after the job `after` (a cursor: the last id of the previous page); \
            `has_more` says whether another page follows. `metadata[KEY]=VALUE` (any number of them) keeps the jobs \
            whose `metadata` has each pair; `metadata=null` those created without metadata.""")
    @GetMapping
    PageView<JobView> list(@AuthenticationPrincipal TenantPrincipal caller,
            @RequestParam(name = "limit", defaultValue = "20") int limit,
            @RequestParam(name = "after", required = false) String after,
            @Parameter(hidden = true) @RequestParam Map<String, String> query) {
        Map<String, String> wanted = new LinkedHashMap<>();
        boolean withoutMetadata = "null".equals(query.get("metadata"));
        query.forEach((k, v) -> {
            if (k.startsWith("metadata[") && k.endsWith("]")) {
                wanted.put(k.substring("metadata[".length(), k.length() - 1), v);
            }
        });
        return PageView.of(jobs.list(caller.tenant()).stream().filter(j -> {
            JobSpec spec = j.snapshot().spec();
            Map<String, String> metadata = spec == null ? null : spec.metadata();
            return withoutMetadata ? metadata == null : wanted.entrySet().stream()
                    .allMatch(e -> metadata != null && e.getValue().equals(metadata.get(e.getKey())));
        }).map(JobView::of).toList(), limit, after, JobView::id);
    }

    @Operation(summary = "Describe one fine-tuning job")
    @GetMapping("/{id}")
    JobView get(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        return JobView.of(jobs.get(caller.tenant(), id).orElseThrow(() -> FineTuningJobs.notFound(id)));
    }

    @Operation(summary = "Cancel a fine-tuning job", description = "Stops it within one training step.")
    @PostMapping("/{id}/cancel")
    JobView cancel(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        return JobView.of(jobs.cancel(caller.tenant(), id));
    }

    @Operation(summary = "Pause a fine-tuning job", description = """
            A queued job at once, a running one after its current update, its training state kept; it stays \
            `paused`, run by no server, until resumed. 409 for a job finished or already paused.""")
    @PostMapping("/{id}/pause")
    JobView pause(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        return JobView.of(jobs.pause(caller.tenant(), id));
    }

    @Operation(summary = "Resume a paused fine-tuning job", description = """
            Queued again and taken over by this server (or another sharing the store), it goes on where it was, \
            as if never paused. 409 for a job not paused.""")
    @PostMapping("/{id}/resume")
    JobView resume(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        return JobView.of(jobs.resume(caller.tenant(), id));
    }

    @Operation(summary = "List a job's events, newest first",
            description = "`metrics` events carry `step`, `total_steps`, `train_loss`, `train_mean_token_accuracy` "
                    + "(the share of the batch's completion tokens that were the model's most likely next token), "
                    + "`learning_rate`, `grad_norm` (with a validation file `valid_loss` and "
                    + "`valid_mean_token_accuracy` over the update's batch of it, and `full_valid_loss`, "
                    + "`full_valid_mean_token_accuracy` where all of it was scored). A page of `limit` (20) events "
                    + "after the event `after`, as for "
                    + "jobs.")
    @GetMapping("/{id}/events")
    PageView<EventView> events(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id,
            @RequestParam(name = "limit", defaultValue = "20") int limit,
            @RequestParam(name = "after", required = false) String after) {
        FineTuningJob job = jobs.get(caller.tenant(), id).orElseThrow(() -> FineTuningJobs.notFound(id));
        return PageView.of(job.events().stream().map(EventView::of).toList(), limit, after, EventView::id);
    }

    @Operation(summary = "List a job's checkpoints, newest first", description = """
            At the end of each of the two epochs before its last, the job registers its interventions as \
            `<job id>.ckpt-step-<N>@1`, usable at once as a completion's `model`; with the job's result, \
            `fine_tuned_model`, the last checkpoint, these are the last three epochs, as OpenAI keeps (a job stopped \
            before them has none). `metrics` holds the update's `train_loss` and `train_mean_token_accuracy` (and \
            with a validation file `valid_loss`, `valid_mean_token_accuracy`, `full_valid_loss`, \
            `full_valid_mean_token_accuracy`). A page of `limit` (10) checkpoints after the checkpoint `after`.""")
    @GetMapping("/{id}/checkpoints")
    PageView<CheckpointView> checkpoints(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id,
            @RequestParam(name = "limit", defaultValue = "10") int limit,
            @RequestParam(name = "after", required = false) String after) {
        FineTuningJob job = jobs.get(caller.tenant(), id).orElseThrow(() -> FineTuningJobs.notFound(id));
        return PageView.of(jobs.checkpoints(job).stream().map(c -> CheckpointView.of(job.id(), c)).toList(), limit,
                after, CheckpointView::id);
    }

    @Operation(summary = "Follow a job's events live (Server-Sent Events)", description = """
            Every event so far, then each new one as it happens, oldest first, as `data: {event}`; `data: [DONE]` \
            once the job has finished.""")
    @GetMapping(path = "/{id}/events", params = "stream=true", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    ResponseEntity<StreamingResponseBody> stream(@AuthenticationPrincipal TenantPrincipal caller,
            @PathVariable String id, HttpServletResponse response) {
        FineTuningJob first = jobs.get(caller.tenant(), id).orElseThrow(() -> FineTuningJobs.notFound(id));
        StreamingResponseBody body = out -> {
            int sent = 0;
            while (true) {
                // Read again each time: a job another replica runs is seen through the store.
                FineTuningJob job = jobs.get(caller.tenant(), id).orElse(first);
                boolean finished = job.snapshot().status().terminal();
                List<FineTuningJob.Event> next = job.eventsFrom(sent);
                for (FineTuningJob.Event e : next) {
                    out.write(("data: " + json.writeValueAsString(EventView.of(e)) + "\n\n")
                            .getBytes(StandardCharsets.UTF_8));
                }
                sent += next.size();
                if (finished) {
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    return;
                }
                // A comment when idle also finds clients that left (the write fails).
                out.write((next.isEmpty() ? ": keep-alive\n\n" : "").getBytes(StandardCharsets.UTF_8));
                out.flush();
                // The stream's own flush leaves small writes in the container's buffer (an idle job's events and
                // keep-alives arrived only with 8 KB behind them, or at the end): send them now.
                response.flushBuffer();
                try {
                    Thread.sleep(STREAM_POLL_MS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        };
        return ResponseEntity.ok().header("Cache-Control", "no-cache").header("X-Accel-Buffering", "no")
                .contentType(MediaType.TEXT_EVENT_STREAM).body(body);
    }

    /** How often a live stream looks for new events: a training step takes longer than this. */
    static final long STREAM_POLL_MS = 200;
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.IntStream;
import dev.reftserver.engine.DeviceTimeShare;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Fine-tuning over HTTP on the real model: files, a two-step job from the training reference's init bundle whose
 * reported losses are the reference's, its result served at once; bad files and hyperparameters as 400s; other
 * tenants' files and jobs as 404s; cancellation.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + FineTuningApiTest.ADMIN_KEY, "reft.training.max-file-bytes=8KB"})
class FineTuningApiTest {

    static final String ADMIN_KEY = "training-admin-key";
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final TrainingReference ref = new TrainingReference();

    @DynamicPropertySource
    static void storeDir(DynamicPropertyRegistry registry) throws IOException {
        Path dir = Files.createTempDirectory("reft-training-api");
        registry.add("reft.store.path", dir::toString);
    }

    @LocalServerPort
    int port;

    final HttpClient client = HttpClient.newHttpClient();

    @Test
    void aTwoStepJobFromTheReferenceInitReportsItsLossesAndServesItsResult() throws Exception {
        String key = newTenant();
        assertThat(upload(key, "/v1/interventions", "bundle", "init.zip", TrainingReference.bytes("init/bundle.zip"),
                "name", "whale-init").statusCode()).isEqualTo(201);
        HttpResponse<String> file = uploadFile(key, TrainingReference.bytes("data.jsonl"));
        assertThat(file.statusCode()).as(file.body()).isEqualTo(200);
        JsonNode f = json(file);
        assertThat(f.get("object").asString()).isEqualTo("file");
        assertThat(f.get("purpose").asString()).isEqualTo("fine-tune");
        assertThat(f.get("examples").asInt()).isEqualTo(8);
        String fileId = f.get("id").asString();
        assertThat(get(key, "/v1/files/" + fileId).statusCode()).isEqualTo(200);
        assertThat(get(key, "/v1/files").body()).contains(fileId);

        HttpResponse<String> created = post(key, "/v1/fine_tuning/jobs", """
                {"model": "stories15M", "training_file": "%s", "suffix": "whale", "seed": 7,
                 "method": {"type": "reft", "reft": {"hyperparameters": {
                   "init_intervention": "whale-init@1", "n_epochs": 30, "batch_size": 8,
                   "learning_rate": 0.004, "max_steps": 2}}}}""".formatted(fileId));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
        JsonNode job = json(created);
        assertThat(job.get("object").asString()).isEqualTo("fine_tuning.job");
        assertThat(job.get("status").asString()).isIn("queued", "running", "succeeded");
        String id = job.get("id").asString();

        // Followed live: every event oldest first, then [DONE] once the job has finished.
        HttpResponse<String> live = get(key, "/v1/fine_tuning/jobs/" + id + "/events?stream=true");
        assertThat(live.statusCode()).isEqualTo(200);
        assertThat(live.headers().firstValue("Content-Type")).hasValueSatisfying(
                v -> assertThat(v).startsWith("text/event-stream"));
        List<JsonNode> streamed = new ArrayList<>();
        for (String line : live.body().split("\n")) {
            if (line.startsWith("data: {")) {
                streamed.add(JSON.readTree(line.substring(6)));
            }
        }
        assertThat(live.body().strip()).endsWith("data: [DONE]");
        // Each update is an epoch (8 examples, batches of 8): the first leaves a checkpoint before its report.
        assertThat(streamed).hasSize(7);
        assertThat(streamed.get(3).get("message").asString())
                .isEqualTo("Checkpoint created at step 1: " + id + ".ckpt-step-1@1");
        assertThat(streamed.get(4).get("data").get("step").asInt()).isEqualTo(1);
        assertThat(streamed.get(6).get("message").asString()).contains("whale@1");

        JsonNode done = await(key, id);
        assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("succeeded");
        assertThat(done.get("fine_tuned_model").asString()).isEqualTo("whale@1");
        assertThat(done.get("trained_tokens").asLong()).isEqualTo(2 * trainedTokens());

        JsonNode events = json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=100")).get("data");
        List<JsonNode> metrics = new ArrayList<>();
        List<String> messages = new ArrayList<>();
        for (JsonNode e : events) {
            assertThat(e.get("object").asString()).isEqualTo("fine_tuning.job.event");
            if (e.get("type").asString().equals("metrics")) {
                metrics.add(0, e.get("data"));
            } else {
                messages.add(0, e.get("message").asString());
            }
        }
        assertThat(messages).hasSize(5);
        assertThat(messages.get(0)).startsWith("Validating training file");
        assertThat(messages.get(1)).contains("queued");
        assertThat(messages.get(2)).contains("started");
        assertThat(messages.get(3)).startsWith("Checkpoint created at step 1");
        assertThat(messages.get(4)).contains("whale@1");
        assertThat(metrics).hasSize(2);
        for (int s = 0; s < 2; s++) {
            assertThat(metrics.get(s).get("step").asInt()).isEqualTo(s + 1);
            assertThat(metrics.get(s).get("train_loss").asDouble()).isCloseTo(ref.loss(s),
                    within(1e-4 * ref.loss(s)));
            // Its batch's completion tokens that are the model's most likely next token (TokenAccuracyTest).
            assertThat(metrics.get(s).get("train_mean_token_accuracy").asDouble()).isBetween(0.0, 1.0);
        }
        assertThat(metrics.get(0).get("learning_rate").asDouble()).isEqualTo(4e-3);
        assertThat(metrics.get(1).get("learning_rate").asDouble()).isEqualTo(2e-3);

        // Its results file: OpenAI's CSV of metrics per update, listed among the tenant's files.
        assertThat(done.get("result_files").size()).isEqualTo(1);
        String results = done.get("result_files").get(0).asString();
        assertThat(json(get(key, "/v1/files/" + results)).get("purpose").asString()).isEqualTo("fine-tune-results");
        List<String> lines = get(key, "/v1/files/" + results + "/content").body().lines().toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).isEqualTo(
                "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,learning_rate");
        for (int s = 0; s < 2; s++) {
            String[] row = lines.get(s + 1).split(",", -1);
            assertThat(row).hasSize(7);
            assertThat(Integer.parseInt(row[0])).isEqualTo(s + 1);
            assertThat(Double.parseDouble(row[1])).isEqualTo(metrics.get(s).get("train_loss").asDouble());
            assertThat(Double.parseDouble(row[2]))
                    .isEqualTo(metrics.get(s).get("train_mean_token_accuracy").asDouble());
            assertThat(row[3] + row[4] + row[5]).isEmpty();
            assertThat(Double.parseDouble(row[6])).isEqualTo(metrics.get(s).get("learning_rate").asDouble());
        }
        HttpResponse<String> onResults = post(key, "/v1/fine_tuning/jobs",
                "{\"model\": \"stories15M\", \"training_file\": \"" + results + "\"}");
        assertBadRequest(onResults, "holds a job's fine-tune-results, not examples to train on");
        assertThat(json(onResults).get("error").get("param").asString()).isEqualTo("training_file");

        assertThat(get(key, "/v1/interventions/whale/versions/1").statusCode()).isEqualTo(200);
        HttpResponse<String> completion = post(key, "/v1/completions",
                "{\"model\":\"whale@1\",\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}");
        assertThat(completion.statusCode()).as(completion.body()).isEqualTo(200);
        assertThat(completion.headers().firstValue("X-Reft-Intervention")).contains("whale@1");
        assertThat(json(get(key, "/v1/fine_tuning/jobs")).get("data").get(0).get("id").asString()).isEqualTo(id);
    }

    @Autowired
    DeviceTimeShare deviceShare;

    @Test
    void aJobProgressesWhileCompletionsKeepTheEngineBusy() throws Exception {
        String key = newTenant();
        String fileId = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger served = new AtomicInteger();
        java.util.concurrent.atomic.AtomicReference<String> refused = new java.util.concurrent.atomic.AtomicReference<>();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < 3; c++) {
            Thread t = new Thread(() -> {
                while (!stop.get()) {
                    HttpResponse<String> r = post(key, "/v1/completions",
                            "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":8}");
                    if (r.statusCode() != 200) {
                        refused.set(r.statusCode() + " " + r.body());
                        return;
                    }
                    served.incrementAndGet();
                }
            });
            t.start();
            clients.add(t);
        }
        try {
            while (served.get() == 0 && refused.get() == null) {
                Thread.sleep(10);
            }
            HttpResponse<String> created = post(key, "/v1/fine_tuning/jobs", """
                    {"model": "stories15M", "training_file": "%s",
                     "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [2], "rank": 2,
                       "batch_size": 4, "max_steps": 6}}}}""".formatted(fileId));
            assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
            int servedBefore = served.get();
            JsonNode done = await(key, json(created).get("id").asString());
            assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("succeeded");
            assertThat(served.get()).as("completions finished while the job trained").isGreaterThan(servedBefore);
            // Both sides reported engine time to the gate: serving from the scheduler, training from the job.
            assertThat(deviceShare.maxShare()).isEqualTo(0.25);
            assertThat(deviceShare.trainingShare()).isStrictlyBetween(0.0, 1.0);
        } finally {
            stop.set(true);
            for (Thread t : clients) {
                t.join();
            }
        }
        assertThat(refused.get()).as("a completion was refused").isNull();
    }

    /** Tokens of one full-batch step over the reference's 8 examples. */
    static long trainedTokens() {
        long total = 0;
        for (JsonNode e : JSON.readTree(new String(TrainingReference.bytes("reference.json"), StandardCharsets.UTF_8))
                .get("examples")) {
            total += e.get("input_ids").size();
        }
        return total;
    }

    @Test
    void badFilesAreRefusedNamingTheLine() {
        String key = newTenant();
        HttpResponse<String> broken = uploadFile(key,
                "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\": \"a\", \"completion\n".getBytes());
        assertBadRequest(broken, "line 2");
        assertBadRequest(uploadFile(key, "{\"prompt\":\"a\"}\n".getBytes()), "line 1");
        assertBadRequest(uploadFile(key, "[1,2]\n".getBytes()), "line 1");
        assertBadRequest(uploadFile(key, new byte[0]), "no examples");
        assertBadRequest(uploadFile(key, "\n\n".getBytes()), "no examples");
        assertBadRequest(uploadFile(key, new byte[9000]), "more than");
        assertBadRequest(upload(key, "/v1/files", "file", "d.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\"}"
                .getBytes(), "purpose", "assistants"), "purpose");
        assertThat(json(get(key, "/v1/files")).get("data").size()).isZero();
    }

    @Test
    void chatLinesAreRefusedByAModelWithoutAChatTemplate() {
        String key = newTenant();
        HttpResponse<String> r = uploadFile(key, ("{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"messages\": [{\"role\":"
                + " \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n").getBytes());
        assertBadRequest(r, "line 2 is a chat example, but the model stories15M has no chat template");
        assertThat(json(r).get("error").get("code").asString()).isEqualTo("no_chat_template");
        assertThat(json(get(key, "/v1/files")).get("data").size()).isZero();
    }

    @Test
    void impossibleJobsAreRefusedBeforeTheyQueue() {
        String key = newTenant();
        String fileId = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        String job = "{\"model\": \"stories15M\", \"training_file\": \"%s\", \"method\": {\"type\": \"reft\","
                + " \"reft\": {\"hyperparameters\": %s}}}";
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "{\"layers\": [6]}")), "layer 6");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "{\"rank\": 288}")), "rank 288");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "{\"positions\": \"x3\"}")),
                "positions");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId,
                "{\"intervention_type\": \"lora\"}")), "intervention_type");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "{\"learning_rat\": 1}")),
                "learning_rat");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted("file-nope", "{}")), "not found");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "{}").replace("stories15M", "gpt")),
                "base model");
        assertBadRequest(post(key, "/v1/fine_tuning/jobs", "{\"model\": "), null);
        assertThat(json(get(key, "/v1/fine_tuning/jobs")).get("data").size()).isZero();
    }

    @Test
    void anotherTenantsFilesAndJobsAreNotFound() throws Exception {
        String keyA = newTenant();
        String keyB = newTenant();
        String fileId = json(uploadFile(keyA, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        HttpResponse<String> created = post(keyA, "/v1/fine_tuning/jobs", """
                {"model": "stories15M", "training_file": "%s",
                 "method": {"type": "reft", "reft": {"hyperparameters": {"max_steps": 1000}}}}""".formatted(fileId));
        String jobId = json(created).get("id").asString();
        try {
            // Running, it says when it should finish: its last updates' pace times the updates left.
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (reportedSteps(keyA, jobId).size() < 5) {
                assertThat(System.nanoTime()).isLessThan(deadline);
                Thread.sleep(20);
            }
            JsonNode running = json(get(keyA, "/v1/fine_tuning/jobs/" + jobId));
            long now = System.currentTimeMillis() / 1000;
            assertThat(running.get("status").asString()).isEqualTo("running");
            // 995 or more updates left at a pace of well under a second each (about 40 ms here)
            assertThat(running.get("estimated_finish").asLong()).isBetween(now + 1, now + 1000);
            for (String path : List.of("/v1/files/" + fileId, "/v1/files/" + fileId + "/content",
                    "/v1/fine_tuning/jobs/" + jobId, "/v1/fine_tuning/jobs/" + jobId + "/events",
                    "/v1/fine_tuning/jobs/" + jobId + "/checkpoints")) {
                assertThat(get(keyB, path).statusCode()).as(path).isEqualTo(404);
            }
            assertThat(send(request(keyB, "/v1/files/" + fileId).DELETE()).statusCode()).isEqualTo(404);
            assertThat(post(keyB, "/v1/fine_tuning/jobs/" + jobId + "/cancel", "").statusCode()).isEqualTo(404);
            assertThat(get(keyB, "/v1/files").body()).doesNotContain(fileId);
            assertThat(get(keyB, "/v1/fine_tuning/jobs").body()).doesNotContain(jobId);
            assertBadRequest(post(keyB, "/v1/fine_tuning/jobs",
                    "{\"model\": \"stories15M\", \"training_file\": \"" + fileId + "\"}"), "not found");
        } finally {
            HttpResponse<String> cancelled = post(keyA, "/v1/fine_tuning/jobs/" + jobId + "/cancel", "");
            assertThat(cancelled.statusCode()).as(cancelled.body()).isEqualTo(200);
        }
        JsonNode done = await(keyA, jobId);
        assertThat(done.get("status").asString()).isEqualTo("cancelled");
        assertThat(done.get("fine_tuned_model").isNull()).isTrue();
        assertThat(done.get("estimated_finish").isNull()).isTrue();
        assertThat(post(keyA, "/v1/fine_tuning/jobs/" + jobId + "/cancel", "").statusCode()).isEqualTo(409);
        assertThat(send(request(keyA, "/v1/files/" + fileId).DELETE()).statusCode()).isEqualTo(200);
        assertThat(get(keyA, "/v1/files/" + fileId).statusCode()).isEqualTo(404);
    }

    @Test
    void theOfficialOpenAiClientCreatesRetrievesListsEventsAndCancels() throws Exception {
        String key = newTenant();
        com.openai.client.OpenAIClient client = openai(key);
        com.openai.models.files.FileObject file = client.files().create(com.openai.models.files.FileCreateParams
                .builder().file(TrainingReference.bytes("data.jsonl"))
                .purpose(com.openai.models.files.FilePurpose.FINE_TUNE).build());
        assertThat(file.id()).startsWith("file-");
        assertThat(file.bytes()).isEqualTo(TrainingReference.bytes("data.jsonl").length);

        com.openai.models.finetuning.jobs.FineTuningJob job = client.fineTuning().jobs().create(
                com.openai.models.finetuning.jobs.JobCreateParams.builder().model("stories15M")
                        .trainingFile(file.id()).suffix("sdk").seed(3)
                        .hyperparameters(com.openai.models.finetuning.jobs.JobCreateParams.Hyperparameters.builder()
                                .nEpochs(1).build())
                        .build());
        assertThat(job.status().value()).isIn(com.openai.models.finetuning.jobs.FineTuningJob.Status.Value.QUEUED,
                com.openai.models.finetuning.jobs.FineTuningJob.Status.Value.RUNNING,
                com.openai.models.finetuning.jobs.FineTuningJob.Status.Value.SUCCEEDED);
        await(key, job.id());
        com.openai.models.finetuning.jobs.FineTuningJob done = client.fineTuning().jobs().retrieve(job.id());
        assertThat(done.status()).isEqualTo(com.openai.models.finetuning.jobs.FineTuningJob.Status.SUCCEEDED);
        assertThat(done.fineTunedModel()).contains("sdk@1");
        assertThat(done.hyperparameters().nEpochs()).isPresent();
        var events = client.fineTuning().jobs().listEvents(job.id()).data();
        assertThat(events).anySatisfy(e -> assertThat(e.message()).startsWith("Step 1/1: training loss="));

        com.openai.models.finetuning.jobs.FineTuningJob longJob = client.fineTuning().jobs().create(
                com.openai.models.finetuning.jobs.JobCreateParams.builder().model("stories15M")
                        .trainingFile(file.id())
                        .putAdditionalBodyProperty("method", com.openai.core.JsonValue.from(java.util.Map.of(
                                "type", "reft", "reft", java.util.Map.of("hyperparameters",
                                        java.util.Map.of("max_steps", 1000, "intervention_type", "direft")))))
                        .build());
        com.openai.models.finetuning.jobs.FineTuningJob cancelled = client.fineTuning().jobs().cancel(longJob.id());
        assertThat(cancelled.id()).isEqualTo(longJob.id());
        await(key, longJob.id());
        assertThat(client.fineTuning().jobs().retrieve(longJob.id()).status())
                .isEqualTo(com.openai.models.finetuning.jobs.FineTuningJob.Status.CANCELLED);

        // The client's auto-pagination (each request after the last id it got) walks every list once.
        List<String> allEvents = client.fineTuning().jobs().listEvents(job.id(),
                com.openai.models.finetuning.jobs.JobListEventsParams.builder().limit(100).build()).data().stream()
                .map(com.openai.models.finetuning.jobs.FineTuningJobEvent::id).toList();
        assertThat(allEvents).hasSizeGreaterThan(4);
        List<String> paged = new ArrayList<>();
        for (var e : client.fineTuning().jobs().listEvents(job.id(),
                com.openai.models.finetuning.jobs.JobListEventsParams.builder().limit(2).build()).autoPager()) {
            paged.add(e.id());
            if (paged.size() > 3 * allEvents.size()) {
                break; // a cursor the server ignored: the first page again and again
            }
        }
        assertThat(paged).isEqualTo(allEvents);
        List<String> jobIds = new ArrayList<>();
        for (var j : client.fineTuning().jobs().list(com.openai.models.finetuning.jobs.JobListParams.builder()
                .limit(1).build()).autoPager()) {
            jobIds.add(j.id());
            if (jobIds.size() > 6) {
                break;
            }
        }
        assertThat(jobIds).containsExactly(longJob.id(), job.id());
        com.openai.models.files.FileObject second = client.files().create(com.openai.models.files.FileCreateParams
                .builder().file(TrainingReference.bytes("data.jsonl"))
                .purpose(com.openai.models.files.FilePurpose.FINE_TUNE).build());
        for (Long limit : new Long[] {null, 1L}) {
            List<String> fileIds = new ArrayList<>();
            var params = com.openai.models.files.FileListParams.builder();
            if (limit != null) {
                params.limit(limit);
            }
            for (var f : client.files().list(params.build()).autoPager()) {
                fileIds.add(f.id());
                if (fileIds.size() > 6) {
                    break;
                }
            }
            // the finished job's results file among them, as OpenAI lists it
            assertThat(fileIds).as("limit %s", limit).containsExactly(second.id(), done.resultFiles().get(0),
                    file.id());
        }
        assertThat(client.files().list(com.openai.models.files.FileListParams.builder().limit(1)
                .order(com.openai.models.files.FileListParams.Order.ASC).build()).data())
                .extracting(com.openai.models.files.FileObject::id).containsExactly(file.id());
        assertThat(client.files().list(com.openai.models.files.FileListParams.builder().purpose("fine-tune")
                .build()).data()).extracting(com.openai.models.files.FileObject::id)
                .containsExactly(second.id(), file.id());
        try (com.openai.core.http.HttpResponse results = client.files().content(done.resultFiles().get(0))) {
            assertThat(new String(results.body().readAllBytes(), StandardCharsets.UTF_8))
                    .startsWith("step,train_loss,").contains("\n1,");
        }
        assertThat(client.files().list(com.openai.models.files.FileListParams.builder().purpose("assistants")
                .build()).data()).isEmpty();
        try (com.openai.core.http.HttpResponse content = client.files().content(file.id())) {
            assertThat(content.body().readAllBytes()).isEqualTo(TrainingReference.bytes("data.jsonl"));
        }
        assertThatThrownBy(() -> client.files().content("file-nope"))
                .isInstanceOf(com.openai.errors.NotFoundException.class);
        HttpResponse<String> missing = get(key, "/v1/files/file-nope/content");
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(json(missing).get("error").get("param").asString()).isEqualTo("file_id");
        HttpResponse<String> badCursor = get(key, "/v1/fine_tuning/jobs?after=ftjob-nope");
        assertBadRequest(badCursor, "'ftjob-nope' is not in this list");
        assertThat(json(badCursor).get("error").get("param").asString()).isEqualTo("after");
    }

    @Test
    void eachEpochLeavesACheckpointOfItsWeightsAndTheLastThreeStay() throws Exception {
        String key = newTenant();
        assertThat(upload(key, "/v1/interventions", "bundle", "init.zip", TrainingReference.bytes("init/bundle.zip"),
                "name", "ck-init").statusCode()).isEqualTo(201);
        String fileId = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        // The reference protocol: 30 epochs of one update each.
        String id = json(post(key, "/v1/fine_tuning/jobs", """
                {"model": "stories15M", "training_file": "%s", "suffix": "ck", "seed": 7,
                 "method": {"type": "reft", "reft": {"hyperparameters": {
                   "init_intervention": "ck-init@1", "n_epochs": 30, "batch_size": 8,
                   "learning_rate": 0.004}}}}""".formatted(fileId))).get("id").asString();
        JsonNode done = await(key, id);
        assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("succeeded");
        assertThat(done.get("fine_tuned_model").asString()).isEqualTo("ck@1");

        com.openai.client.OpenAIClient openai = openai(key);
        var checkpoints = openai.fineTuning().jobs().checkpoints().list(id).data();
        assertThat(checkpoints).extracting(c -> c.stepNumber()).containsExactly(30L, 29L, 28L);
        assertThat(checkpoints).extracting(c -> c.fineTunedModelCheckpoint())
                .containsExactly("ck@1", id + ".ckpt-step-29@1", id + ".ckpt-step-28@1");
        for (var c : checkpoints) {
            assertThat(c.fineTuningJobId()).isEqualTo(id);
            assertThat(c._object_().asString()).contains("fine_tuning.job.checkpoint");
            assertThat(c.metrics().step()).contains((double) c.stepNumber());
            // The loss reported at update k, before it, is the reference's at update k.
            double loss = ref.loss((int) c.stepNumber() - 1);
            assertThat(c.metrics().trainLoss()).hasValueSatisfying(v -> assertThat(v).isCloseTo(loss,
                    within(1e-4 * loss)));
            assertThat(c.metrics().trainMeanTokenAccuracy()).hasValueSatisfying(v -> assertThat(v).isBetween(0.0,
                    1.0));
        }
        List<String> paged = new ArrayList<>();
        for (var c : openai.fineTuning().jobs().checkpoints().list(id,
                com.openai.models.finetuning.jobs.checkpoints.CheckpointListParams.builder().limit(1).build())
                .autoPager()) {
            paged.add(c.id());
            if (paged.size() > 6) {
                break;
            }
        }
        assertThat(paged).isEqualTo(checkpoints.stream().map(c -> c.id()).toList());

        // One event per checkpoint made, only for the epochs kept: earlier ones would only be deleted again.
        List<String> announced = new ArrayList<>();
        json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=100")).get("data").forEach(e -> {
            if (e.get("message").asString().startsWith("Checkpoint created")) {
                announced.add(0, e.get("message").asString());
            }
        });
        assertThat(announced).isEqualTo(java.util.stream.IntStream.rangeClosed(28, 29).mapToObj(
                k -> "Checkpoint created at step " + k + ": " + id + ".ckpt-step-" + k + "@1").toList());
        assertThat(get(key, "/v1/interventions/" + id + ".ckpt-step-27").statusCode()).isEqualTo(404);
        assertThat(get(key, "/v1/models/" + id + ".ckpt-step-29@1").statusCode()).isEqualTo(200);
        HttpResponse<String> completion = post(key, "/v1/completions", "{\"model\":\"" + id
                + ".ckpt-step-29@1\",\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0}");
        assertThat(completion.statusCode()).as(completion.body()).isEqualTo(200);
        assertThat(completion.headers().firstValue("X-Reft-Intervention")).contains(id + ".ckpt-step-29@1");

        // Each checkpoint holds its update's weights: those of the reference run after 28 and 29 updates.
        LoreftTrainingReferenceTest.load();
        try (TrainingRun run = ReferenceRunTestSupport.run(8)) {
            for (int k = 1; k <= 29; k++) {
                run.step();
                if (k >= 28) {
                    byte[] bundle = client.send(request(key, "/v1/interventions/" + id + ".ckpt-step-" + k
                            + "/bundle").GET().build(), HttpResponse.BodyHandlers.ofByteArray()).body();
                    assertSameWeights(bundle, run.bundle().toNativeZip(dev.reftserver.intervention.BundleLimits
                            .defaults()));
                }
            }
        } finally {
            LoreftTrainingReferenceTest.close();
        }
    }

    static void assertSameWeights(byte[] actual, byte[] expected) {
        var shape = LoreftTrainingReferenceTest.model.config().shape();
        var limits = dev.reftserver.intervention.BundleLimits.defaults();
        var a = dev.reftserver.intervention.BundleContents.read(actual, shape, limits).interventions();
        var e = dev.reftserver.intervention.BundleContents.read(expected, shape, limits).interventions();
        assertThat(a).hasSameSizeAs(e);
        for (int i = 0; i < e.size(); i++) {
            assertThat(a.get(i).tensors().keySet()).isEqualTo(e.get(i).tensors().keySet());
            for (String name : e.get(i).tensors().keySet()) {
                float[] want = e.get(i).tensors().get(name).data();
                float[] got = a.get(i).tensors().get(name).data();
                float tol = 1e-5f * TrainingReference.maxAbs(want);
                assertThat(got).as(name).hasSameSizeAs(want);
                for (int j = 0; j < want.length; j++) {
                    assertThat(got[j]).as("%s[%d]", name, j).isCloseTo(want[j], within(tol));
                }
            }
        }
    }

    @Test
    void aJobsMetadataIsKeptShownAndFilteredOnAndWhatCannotBeHonouredIsRefused() throws Exception {
        String key = newTenant();
        String fileId = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        String job = """
                {"model": "stories15M", "training_file": "%s", %s
                 "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [2], "rank": 2,
                   "max_steps": 1}}}}""";
        String a = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId,
                "\"metadata\": {\"team\": \"search\", \"run\": \"7\"},"))).get("id").asString();
        String b = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId,
                "\"metadata\": {\"team\": \"ads\"}, \"integrations\": [],"))).get("id").asString();
        String c = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, ""))).get("id").asString();
        for (String id : List.of(a, b, c)) {
            assertThat(await(key, id).get("status").asString()).isEqualTo("succeeded");
        }
        assertThat(json(get(key, "/v1/fine_tuning/jobs/" + a)).get("metadata").toString())
                .isEqualTo("{\"team\":\"search\",\"run\":\"7\"}");
        assertThat(json(get(key, "/v1/fine_tuning/jobs/" + c)).get("metadata").isNull()).isTrue();

        com.openai.client.OpenAIClient openai = openai(key);
        assertThat(openai.fineTuning().jobs().retrieve(a).metadata()).hasValueSatisfying(m -> assertThat(
                m._additionalProperties().get("team").asString()).contains("search"));
        assertThat(openai.fineTuning().jobs().list(com.openai.models.finetuning.jobs.JobListParams.builder()
                .metadata(com.openai.models.finetuning.jobs.JobListParams.Metadata.builder()
                        .putAdditionalProperty("team", "search").build()).build()).data())
                .extracting(j -> j.id()).containsExactly(a);
        for (String[] filter : new String[][] {{"metadata[team]=ads", b}, {"metadata[team]=search&metadata[run]=7", a},
                {"metadata[team]=search&metadata[run]=8", null}, {"metadata=null", c}}) {
            List<String> ids = new ArrayList<>();
            json(get(key, "/v1/fine_tuning/jobs?" + filter[0])).get("data")
                    .forEach(j -> ids.add(j.get("id").asString()));
            assertThat(ids).as(filter[0]).isEqualTo(filter[1] == null ? List.of() : List.of(filter[1]));
        }

        StringBuilder seventeen = new StringBuilder("{");
        for (int i = 0; i < 17; i++) {
            seventeen.append(i == 0 ? "" : ",").append("\"k").append(i).append("\": \"v\"");
        }
        for (String[] bad : new String[][] {
                {"\"metadata\": " + seventeen + "},", "metadata", "at most 16 pairs"},
                {"\"metadata\": {\"n\": 1},", "metadata", "must be a string"},
                {"\"metadata\": {\"" + "k".repeat(65) + "\": \"v\"},", "metadata", "1 to 64 characters"},
                {"\"metadata\": {\"v\": \"" + "x".repeat(513) + "\"},", "metadata", "at most 512"},
                {"\"metadata\": [],", "metadata", "must be an object"},
                {"\"integrations\": [{\"type\": \"wandb\", \"wandb\": {\"project\": \"p\"}}],", "integrations",
                        "integrations are not supported"}}) {
            HttpResponse<String> r = post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, bad[0]));
            assertBadRequest(r, bad[2]);
            assertThat(json(r).get("error").get("param").asString()).isEqualTo(bad[1]);
        }
    }

    @Test
    void aFileUploadedWithExpiresAfterShowsWhenItExpiresAndBadExpiriesAreRefusedByName() throws Exception {
        String key = newTenant();
        com.openai.client.OpenAIClient openai = openai(key);
        com.openai.models.files.FileObject file = openai.files().create(com.openai.models.files.FileCreateParams
                .builder().file(TrainingReference.bytes("data.jsonl"))
                .purpose(com.openai.models.files.FilePurpose.FINE_TUNE)
                .expiresAfter(com.openai.models.files.FileCreateParams.ExpiresAfter.builder().seconds(7200).build())
                .build());
        assertThat(file.expiresAt()).contains(file.createdAt() + 7200);
        assertThat(json(get(key, "/v1/files/" + file.id())).get("expires_at").asLong())
                .isEqualTo(file.createdAt() + 7200);
        String kept = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        assertThat(json(get(key, "/v1/files/" + kept)).get("expires_at").isNull()).isTrue();

        for (String[] bad : new String[][] {{"3599", "created_at", "expires_after.seconds", "from 3600"},
                {"2592001", "created_at", "expires_after.seconds", "to 2592000"},
                {"soon", "created_at", "expires_after.seconds", "'soon'"},
                {"3600", "last_used_at", "expires_after.anchor", "'last_used_at'"},
                {"3600", null, "expires_after.anchor", "not missing"}}) {
            Map<String, String> fields = new java.util.LinkedHashMap<>();
            fields.put("purpose", "fine-tune");
            fields.put("expires_after[seconds]", bad[0]);
            if (bad[1] != null) {
                fields.put("expires_after[anchor]", bad[1]);
            }
            HttpResponse<String> r = upload(key, "/v1/files", "file", "data.jsonl", TrainingReference.bytes(
                    "data.jsonl"), fields);
            assertBadRequest(r, bad[3]);
            assertThat(json(r).get("error").get("param").asString()).as(bad[0] + " " + bad[1]).isEqualTo(bad[2]);
        }
        HttpResponse<String> unknown = upload(key, "/v1/files", "file", "data.jsonl",
                TrainingReference.bytes("data.jsonl"), Map.of("purpose", "fine-tune", "expires_after[days]", "2"));
        assertBadRequest(unknown, "'expires_after[days]' is not a field of expires_after");
        assertThat(json(get(key, "/v1/files")).get("data").size()).isEqualTo(2);
    }

    @Test
    void aPausedJobStopsWithItsStateAndResumedGoesOnAsIfNeverPaused() throws Exception {
        String key = newTenant();
        com.openai.client.OpenAIClient openai = openai(key);
        String fileId = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        String job = """
                {"model": "stories15M", "training_file": "%s", "suffix": "%s", "seed": 5,
                 "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [2], "rank": 2, "batch_size": 4,
                   "max_steps": %d}}}}""";
        int steps = 40;
        String whole = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "whole", steps))).get("id")
                .asString();
        assertThat(await(key, whole).get("status").asString()).isEqualTo("succeeded");
        String id = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "paused", steps))).get("id")
                .asString();
        String queued = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, "later", 3))).get("id")
                .asString();
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=100")).get("data").size() < 6) {
            assertThat(System.nanoTime()).isLessThan(deadline);
            Thread.sleep(20);
        }

        // Queued: paused at once. Running: after its current update.
        assertThat(openai.fineTuning().jobs().pause(queued).status().asString()).isEqualTo("paused");
        openai.fineTuning().jobs().pause(id);
        JsonNode paused = awaitStatus(key, id, "paused");
        assertThat(paused.get("method").get("reft").get("hyperparameters").get("max_steps").asInt()).isEqualTo(steps);
        int at = reportedSteps(key, id).size();
        assertThat(at).isBetween(1, steps - 1);
        Thread.sleep(1000);
        assertThat(reportedSteps(key, id)).hasSize(at);
        assertThat(json(get(key, "/v1/fine_tuning/jobs/" + id)).get("status").asString()).isEqualTo("paused");
        assertThat(post(key, "/v1/fine_tuning/jobs/" + id + "/pause", "").statusCode()).isEqualTo(409);
        assertThat(post(key, "/v1/fine_tuning/jobs/" + whole + "/resume", "").statusCode()).isEqualTo(409);

        openai.fineTuning().jobs().resume(id);
        assertThat(await(key, id).get("status").asString()).isEqualTo("succeeded");
        assertThat(reportedSteps(key, id)).isEqualTo(java.util.stream.IntStream.rangeClosed(1, steps).boxed()
                .toList());
        List<String> messages = new ArrayList<>();
        json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=100")).get("data")
                .forEach(e -> messages.add(0, e.get("message").asString()));
        assertThat(messages).contains("The job was paused after step " + at, "Fine-tuning job resumed after step " + at);
        // Exactly the uninterrupted run's result.
        assertThat(client.send(request(key, "/v1/interventions/paused/bundle").GET().build(),
                HttpResponse.BodyHandlers.ofByteArray()).body())
                .isEqualTo(client.send(request(key, "/v1/interventions/whole/bundle").GET().build(),
                        HttpResponse.BodyHandlers.ofByteArray()).body());

        // A paused job is cancelled at once.
        assertThat(post(key, "/v1/fine_tuning/jobs/" + queued + "/cancel", "").statusCode()).isEqualTo(200);
        assertThat(json(get(key, "/v1/fine_tuning/jobs/" + queued)).get("status").asString()).isEqualTo("cancelled");
        assertThat(post(key, "/v1/fine_tuning/jobs/" + queued + "/resume", "").statusCode()).isEqualTo(409);
        assertThat(post(key, "/v1/fine_tuning/jobs/ftjob-nope/pause", "").statusCode()).isEqualTo(404);
    }

    @Test
    void anIdleJobsLiveStreamSendsItsEventsAndKeepAlivesAtOnce() throws Exception {
        String key = newTenant();
        String fileId = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        String job = """
                {"model": "stories15M", "training_file": "%s",
                 "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [2], "max_steps": %d}}}}""";
        String running = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, 5000))).get("id").asString();
        String queued = json(post(key, "/v1/fine_tuning/jobs", job.formatted(fileId, 3))).get("id").asString();
        try {
            // Queued behind the other, the job writes nothing new: what it has must still arrive, and keep-alives.
            HttpRequest stream = request(key, "/v1/fine_tuning/jobs/" + queued + "/events?stream=true").GET()
                    .build();
            java.util.concurrent.CompletableFuture<List<String>> read = java.util.concurrent.CompletableFuture
                    .supplyAsync(() -> {
                        List<String> lines = new ArrayList<>();
                        try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(client.send(stream,
                                HttpResponse.BodyHandlers.ofInputStream()).body(), StandardCharsets.UTF_8))) {
                            for (String line = in.readLine(); line != null; line = in.readLine()) {
                                if (!line.isEmpty()) {
                                    lines.add(line);
                                }
                                if (lines.stream().filter(l -> l.startsWith(": keep-alive")).count() >= 2) {
                                    return lines;
                                }
                            }
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return lines;
                    });
            List<String> lines = read.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(lines.stream().filter(l -> l.startsWith("data: {")).map(l -> JSON.readTree(l.substring(6))
                    .get("message").asString())).containsExactly("Validating training file: " + fileId,
                    "Files validated, moving job to queued state");
        } finally {
            post(key, "/v1/fine_tuning/jobs/" + queued + "/cancel", "");
            post(key, "/v1/fine_tuning/jobs/" + running + "/cancel", "");
        }
    }

    List<Integer> reportedSteps(String key, String id) {
        List<Integer> steps = new ArrayList<>();
        for (JsonNode e : json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=10000")).get("data")) {
            if (e.get("type").asString().equals("metrics")) {
                steps.add(0, e.get("data").get("step").asInt());
            }
        }
        return steps;
    }

    JsonNode awaitStatus(String key, String id, String status) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (true) {
            JsonNode job = json(get(key, "/v1/fine_tuning/jobs/" + id));
            if (job.get("status").asString().equals(status)) {
                return job;
            }
            assertThat(System.nanoTime()).as("%s still %s", id, job.get("status")).isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    @Test
    void theOpenApiDocumentListsTheFilesAndFineTuningEndpoints() {
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v3/api-docs")));
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode paths = json(r).get("paths");
        for (String[] e : new String[][] {{"post", "/v1/files"}, {"get", "/v1/files"}, {"get", "/v1/files/{id}"},
                {"delete", "/v1/files/{id}"}, {"post", "/v1/fine_tuning/jobs"}, {"get", "/v1/fine_tuning/jobs"},
                {"get", "/v1/fine_tuning/jobs/{id}"}, {"post", "/v1/fine_tuning/jobs/{id}/cancel"},
                {"get", "/v1/fine_tuning/jobs/{id}/events"}, {"get", "/v1/fine_tuning/jobs/{id}/checkpoints"}}) {
            assertThat(paths.path(e[1]).has(e[0])).as("%s %s", e[0], e[1]).isTrue();
        }
    }

    @Test
    void aValidationFileIsScoredAtTheEndOfEachEpochAndOfTheJob() throws Exception {
        String key = newTenant();
        String train = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        String valid = json(uploadFile(key, TrainingReference.bytes("data.jsonl"))).get("id").asString();
        // Three examples: one batch, so each update's batch of it is all of it.
        String oneBatch = json(uploadFile(key, String.join("\n", new String(TrainingReference.bytes("data.jsonl"),
                StandardCharsets.UTF_8).lines().limit(3).toList()).getBytes(StandardCharsets.UTF_8)))
                .get("id").asString();
        String job = """
                {"model": "stories15M", "training_file": "%s", "validation_file": "%s",
                 "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [2], "rank": 2,
                   "batch_size": 3, "n_epochs": 2%s}}}}""";
        HttpResponse<String> unknown = post(key, "/v1/fine_tuning/jobs", job.formatted(train, "file-nope", ""));
        assertBadRequest(unknown, "validation file 'file-nope' not found");
        assertThat(json(unknown).get("error").get("param").asString()).isEqualTo("validation_file");

        // 8 examples in batches of 3: epochs end at updates 3 and 6; max_steps 5 ends the job mid-epoch.
        for (String extra : List.of("", ", \"max_steps\": 5")) {
            HttpResponse<String> created = post(key, "/v1/fine_tuning/jobs", job.formatted(train, valid, extra));
            assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
            assertThat(json(created).get("validation_file").asString()).isEqualTo(valid);
            String id = json(created).get("id").asString();
            JsonNode done = await(key, id);
            assertThat(done.get("status").asString()).as(done.toString()).isEqualTo("succeeded");
            Map<Integer, Double> scored = new TreeMap<>();
            Map<Integer, JsonNode> metrics = new TreeMap<>();
            for (JsonNode e : json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=100")).get("data")) {
                if (e.get("type").asString().equals("metrics")) {
                    metrics.put(e.get("data").get("step").asInt(), e.get("data"));
                    JsonNode v = e.get("data").get("full_valid_loss");
                    JsonNode accuracy = e.get("data").get("full_valid_mean_token_accuracy");
                    assertThat(accuracy == null).isEqualTo(v == null);
                    if (v != null) {
                        assertThat(accuracy.asDouble()).isBetween(0.0, 1.0);
                        scored.put(e.get("data").get("step").asInt(), v.asDouble());
                        assertThat(e.get("message").asString()).contains(String.format(Locale.ROOT,
                                ", full validation loss=%.4f", v.asDouble()));
                    }
                    // Every update scores its batch of the file, as OpenAI's valid_loss.
                    double batch = e.get("data").get("valid_loss").asDouble();
                    assertThat(batch).isFinite().isPositive();
                    assertThat(e.get("data").get("valid_mean_token_accuracy").asDouble()).isBetween(0.0, 1.0);
                    assertThat(e.get("message").asString()).contains(String.format(Locale.ROOT,
                            ", validation loss=%.4f", batch));
                }
            }
            assertThat(metrics.keySet()).containsExactlyElementsOf(
                    IntStream.rangeClosed(1, extra.isEmpty() ? 6 : 5).boxed().toList());
            assertThat(scored.keySet()).containsExactly(extra.isEmpty() ? new Integer[] {3, 6} : new Integer[] {3, 5});
            assertThat(scored.values()).allSatisfy(v -> assertThat(v).isFinite().isPositive());
            // Update 3 scores the file's third batch (examples 7 and 8), not all of it.
            assertThat(metrics.get(3).get("valid_loss").asDouble()).isNotEqualTo(scored.get(3));
            // The results file's validation columns are the events' figures.
            String results = done.get("result_files").get(0).asString();
            List<String> lines = get(key, "/v1/files/" + results + "/content").body().lines().toList();
            assertThat(lines).hasSize(metrics.size() + 1);
            for (String line : lines.subList(1, lines.size())) {
                String[] row = line.split(",", -1);
                JsonNode m = metrics.get(Integer.parseInt(row[0]));
                assertThat(Double.parseDouble(row[3])).isEqualTo(m.get("valid_loss").asDouble());
                assertThat(Double.parseDouble(row[4])).isEqualTo(m.get("valid_mean_token_accuracy").asDouble());
                if (m.has("full_valid_loss")) {
                    assertThat(Double.parseDouble(row[5])).isEqualTo(m.get("full_valid_loss").asDouble());
                } else {
                    assertThat(row[5]).isEmpty();
                }
            }
        }

        // A file of one batch: each update's batch of it is the whole file, at the same weights.
        HttpResponse<String> created = post(key, "/v1/fine_tuning/jobs", job.formatted(train, oneBatch, ""));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
        String id = json(created).get("id").asString();
        assertThat(await(key, id).get("status").asString()).isEqualTo("succeeded");
        int whole = 0;
        for (JsonNode e : json(get(key, "/v1/fine_tuning/jobs/" + id + "/events?limit=100")).get("data")) {
            JsonNode d = e.get("data");
            if (e.get("type").asString().equals("metrics") && d.has("full_valid_loss")) {
                whole++;
                assertThat(d.get("valid_loss").asDouble()).isEqualTo(d.get("full_valid_loss").asDouble());
                assertThat(d.get("valid_mean_token_accuracy").asDouble())
                        .isEqualTo(d.get("full_valid_mean_token_accuracy").asDouble());
            }
        }
        assertThat(whole).isEqualTo(2);
    }

    JsonNode await(String key, String id) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (true) {
            JsonNode job = json(get(key, "/v1/fine_tuning/jobs/" + id));
            String status = job.get("status").asString();
            if (List.of("succeeded", "failed", "cancelled").contains(status) || System.nanoTime() > deadline) {
                return job;
            }
            Thread.sleep(100);
        }
    }

    void assertBadRequest(HttpResponse<String> r, String messagePart) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        JsonNode error = json(r).get("error");
        assertThat(error.get("type").asString()).isEqualTo("invalid_request_error");
        if (messagePart != null) {
            assertThat(error.get("message").asString()).contains(messagePart);
        }
    }

    /** The official OpenAI Java client, as the tenant of {@code key}. */
    com.openai.client.OpenAIClient openai(String key) {
        return com.openai.client.okhttp.OpenAIOkHttpClient.builder().baseUrl("http://localhost:" + port + "/v1")
                .apiKey(key).build();
    }

    String newTenant() {
        HttpResponse<String> r = send(request(ADMIN_KEY, "/admin/tenants").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"t-" + UUID.randomUUID().toString()
                        .substring(0, 8) + "\"}")));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json(r).get("api_key").asString();
    }

    HttpResponse<String> uploadFile(String key, byte[] content) {
        return upload(key, "/v1/files", "file", "data.jsonl", content, "purpose", "fine-tune");
    }

    HttpResponse<String> upload(String key, String path, String part, String fileName, byte[] content,
            String field, String value) {
        return upload(key, path, part, fileName, content, Map.of(field, value));
    }

    HttpResponse<String> upload(String key, String path, String part, String fileName, byte[] content,
            Map<String, String> fields) {
        String boundary = "b" + UUID.randomUUID().toString().replace("-", "");
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        fields.forEach((field, value) -> body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; "
                + "name=\"" + field + "\"\r\n\r\n" + value + "\r\n").getBytes(StandardCharsets.UTF_8)));
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + part + "\"; filename=\""
                + fileName + "\"\r\nContent-Type: application/octet-stream\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(content);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return send(request(key, path).header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
    }

    HttpResponse<String> get(String key, String path) {
        return send(request(key, path).GET());
    }

    HttpResponse<String> post(String key, String path, String json) {
        return send(request(key, path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    HttpRequest.Builder request(String key, String path) {
        return HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .header("Authorization", "Bearer " + key);
    }

    HttpResponse<String> send(HttpRequest.Builder b) {
        try {
            return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static JsonNode json(HttpResponse<String> r) {
        return JSON.readTree(r.body());
    }
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.engine.DeviceTimeShare;
import dev.reftserver.intervention.BundleImporter;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.EmbeddedStore;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.PostgresStore;
import dev.reftserver.registry.Quotas;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.Route;
import dev.reftserver.registry.StoredFile;
import dev.reftserver.registry.StoredJob;
import dev.reftserver.registry.TestPostgres;
import dev.reftserver.registry.UploadMetrics;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.util.unit.DataSize;
import tools.jackson.databind.json.JsonMapper;

/**
 * Jobs across a restart: what finished survives with its events and result; what was running or queued when the
 * process stopped (or died) goes on at the next start, or on another server sharing the database, where it was, and
 * its result is exactly an uninterrupted run's.
 */
class FineTuningRestartTest {

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String TENANT = "acme";
    static TransformerLM model;
    static TextTokenizer tokenizer;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** One server's training side over a store. */
    record Server(RegistryStore store, TrainingFiles files, FineTuningJobs jobs) implements AutoCloseable {

        static Server open(RegistryStore store) {
            return open(store, Duration.ofSeconds(60));
        }

        /** @param lease how long a job's replica may stay silent before another fails the job */
        static Server open(RegistryStore store, Duration lease) {
            TrainingProperties props = new TrainingProperties(DataSize.ofMegabytes(1), 100, 10, 10000, 4, 64, 1.0,
                    "0.25", lease);
            BundleImporter importer = new BundleImporter(BundleLimits.defaults());
            InterventionUploads uploads = new InterventionUploads(store, (zip, positions, share, template) ->
                    importer.importZip(zip, model.config().shape(), positions, share, template),
                    new UploadMetrics(new SimpleMeterRegistry()));
            TrainingFiles files = new TrainingFiles(store, props, new ChatPrompts(null, tokenizer), tokenizer,
                    "stories15M");
            return new Server(store, files, new FineTuningJobs(model, files, uploads, store, props,
                    BundleLimits.defaults(), "stories15M", new DeviceTimeShare(props.maxShare())));
        }

        FineTuningJob create(String fileId, String suffix, int maxSteps) {
            return jobs.create(TENANT, JSON.readTree("""
                    {"model": "stories15M", "training_file": "%s", "suffix": "%s",
                     "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [2], "rank": 2,
                       "batch_size": 4, "max_steps": %d}}}}""".formatted(fileId, suffix, maxSteps)));
        }

        @Override
        public void close() {
            jobs.close();
        }
    }

    static FineTuningJob.Snapshot await(FineTuningJob job, Predicate<FineTuningJob.Snapshot> until)
            throws InterruptedException {
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (true) {
            FineTuningJob.Snapshot s = job.snapshot();
            if (until.test(s)) {
                return s;
            }
            assertThat(System.nanoTime()).as("job %s still %s", s.id(), s.status()).isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    static List<String> messages(FineTuningJob job) {
        return job.events().stream().map(FineTuningJob.Event::message).toList();
    }

    /** The steps of the job's metrics events, oldest first. */
    static List<Integer> reportedSteps(FineTuningJob job) {
        return job.eventsFrom(0).stream().filter(e -> e.type().equals("metrics"))
                .map(e -> ((Number) e.data().get("step")).intValue()).toList();
    }

    static final int STEPS = 24;

    record Midway(TrainingFile file, String done, String model, List<String> doneEvents, FineTuningJob running,
            FineTuningJob queued) {
    }

    /** A finished job, one running ({@link #STEPS} updates, a few done), one queued behind it. */
    static Midway runUntilMidway(Server server) throws InterruptedException {
        TrainingFile file = server.files().upload(TENANT, "data.jsonl", "fine-tune",
                TrainingReference.bytes("data.jsonl"));
        FineTuningJob done = server.create(file.id(), "quick", 1);
        FineTuningJob.Snapshot s = await(done, x -> x.status().terminal());
        assertThat(s.status()).isEqualTo(FineTuningJob.Status.SUCCEEDED);
        FineTuningJob running = server.create(file.id(), "long", STEPS);
        FineTuningJob queued = server.create(file.id(), "later", 3);
        await(running, x -> x.stepsDone() >= 5);
        assertThat(running.snapshot().stepsDone()).isLessThan(STEPS);
        assertThat(queued.snapshot().status()).isEqualTo(FineTuningJob.Status.QUEUED);
        return new Midway(file, done.id(), s.fineTunedModel(), messages(done), running, queued);
    }

    /**
     * On the server that took them over: both unfinished jobs succeed, every update reported once, the long one's
     * trained bundle exactly {@code expected}; the finished job and its version untouched.
     */
    static void assertTakenOver(Server again, Midway before, Trained expected) throws InterruptedException {
        FineTuningJob running = again.jobs().get(TENANT, before.running().id()).orElseThrow();
        FineTuningJob.Snapshot s = await(running, x -> x.status().terminal());
        assertThat(s.status()).as(s.toString()).isEqualTo(FineTuningJob.Status.SUCCEEDED);
        assertThat(s.stepsDone()).isEqualTo(STEPS);
        FineTuningJob reloaded = again.jobs().get(TENANT, running.id()).orElseThrow();
        assertThat(reportedSteps(reloaded)).isEqualTo(IntStream.rangeClosed(1, STEPS).boxed().toList());
        // Its results file lists each update once too.
        assertThat(reloaded.resultFiles()).containsExactly(FineTuningJob.resultsFileId(running.id()));
        String csv = new String(again.store().fileContent(TENANT, reloaded.resultFiles().get(0)).orElseThrow(),
                java.nio.charset.StandardCharsets.UTF_8);
        assertThat(csv.lines().skip(1).map(l -> Integer.parseInt(l.substring(0, l.indexOf(',')))).toList())
                .isEqualTo(IntStream.rangeClosed(1, STEPS).boxed().toList());
        assertThat(messages(reloaded)).anySatisfy(m -> assertThat(m)
                .matches("The server running the job stopped; it goes on here after step \\d+"));
        Trained trained = Trained.of(again, reloaded);
        assertThat(trained.bundle()).isEqualTo(expected.bundle());
        // The checkpoints of epochs 10 and 11 of 12 (8 examples, batches of 4), the same bytes.
        assertThat(trained.checkpoints().keySet()).containsExactly(22, 20);
        trained.checkpoints().forEach((step, b) -> assertThat(b).as("step %d", step)
                .isEqualTo(expected.checkpoints().get(step)));

        FineTuningJob queued = again.jobs().get(TENANT, before.queued().id()).orElseThrow();
        FineTuningJob.Snapshot q = await(queued, x -> x.status().terminal());
        assertThat(q.status()).isEqualTo(FineTuningJob.Status.SUCCEEDED);
        assertThat(reportedSteps(again.jobs().get(TENANT, queued.id()).orElseThrow())).containsExactly(1, 2, 3);

        FineTuningJob done = again.jobs().get(TENANT, before.done()).orElseThrow();
        assertThat(done.snapshot().fineTunedModel()).isEqualTo(before.model());
        assertThat(messages(done)).isEqualTo(before.doneEvents());
        assertThat(again.store().unfinishedJobs()).isEmpty();
        assertThat(again.store().versions(TENANT)).extracting(v -> v.id())
                .containsExactlyInAnyOrder(before.model(), "long@1", "later@1",
                        JobCheckpoints.name(running.id(), 20) + "@1", JobCheckpoints.name(running.id(), 22) + "@1",
                        JobCheckpoints.name(queued.id(), 2) + "@1");
    }

    /** A job's trained bundle and its checkpoints' bundles by step, read from the store. */
    record Trained(byte[] bundle, Map<Integer, byte[]> checkpoints) {

        static Trained of(Server server, FineTuningJob job) {
            Map<Integer, byte[]> checkpoints = new LinkedHashMap<>();
            String result = job.snapshot().fineTunedModel();
            for (JobCheckpoints.Checkpoint c : server.jobs().checkpoints(job)) {
                if (!c.model().equals(result)) {
                    checkpoints.put(c.step(), server.store().bundle(TENANT, JobCheckpoints.name(job.id(), c.step()), 1)
                            .orElseThrow());
                }
            }
            String suffix = result.substring(0, result.indexOf('@'));
            return new Trained(server.store().bundle(TENANT, suffix, 1).orElseThrow(), checkpoints);
        }
    }

    /** The trained bundle and checkpoints of a job run start to end, uninterrupted, on a fresh store. */
    Trained uninterrupted(String suffix, int steps) throws InterruptedException {
        try (EmbeddedStore store = new EmbeddedStore(tmp.resolve("whole-" + suffix)); Server server = Server.open(store)) {
            TrainingFile file = server.files().upload(TENANT, "data.jsonl", "fine-tune",
                    TrainingReference.bytes("data.jsonl"));
            FineTuningJob job = server.create(file.id(), suffix, steps);
            assertThat(await(job, x -> x.status().terminal()).status()).isEqualTo(FineTuningJob.Status.SUCCEEDED);
            return Trained.of(server, job);
        }
    }

    @Test
    void checkpointsNeverCostAJobItsResultInTheTenantsQuota() throws Exception {
        Quotas one = new Quotas(1, 100, DataSize.ofGigabytes(1), 1000, 16, 64);
        try (EmbeddedStore store = new EmbeddedStore(tmp.resolve("quota"), one); Server server = Server.open(store)) {
            TrainingFile file = server.files().upload(TENANT, "data.jsonl", "fine-tune",
                    TrainingReference.bytes("data.jsonl"));
            // Epochs end at updates 2, 4 and 6 of 8; those at 4 and 6 are kept: the first fills the quota of one name.
            FineTuningJob job = server.create(file.id(), "tight", 8);
            FineTuningJob.Snapshot s = await(job, x -> x.status().terminal());
            assertThat(s.status()).as(s.toString()).isEqualTo(FineTuningJob.Status.SUCCEEDED);
            assertThat(s.fineTunedModel()).isEqualTo("tight@1");
            assertThat(messages(job)).anySatisfy(m -> assertThat(m).startsWith("No checkpoint at step 6: tenant"))
                    .contains("The job's checkpoints were deleted to make room for its result in the tenant's quota");
            assertThat(store.versions(TENANT)).extracting(v -> v.id()).containsExactly("tight@1");
            assertThat(server.jobs().checkpoints(job)).extracting(JobCheckpoints.Checkpoint::model)
                    .containsExactly("tight@1");
        }
    }

    @Test
    void checkpointsATaskRoutesToStayWhenTheOthersMakeRoom() throws Exception {
        try (EmbeddedStore store = new EmbeddedStore(tmp.resolve("routed")); Server server = Server.open(store)) {
            TrainingFile file = server.files().upload(TENANT, "data.jsonl", "fine-tune",
                    TrainingReference.bytes("data.jsonl"));
            FineTuningJob job = server.create(file.id(), "routed", 8); // epochs end at 2, 4, 6: checkpoints 4, 6
            assertThat(await(job, x -> x.status().terminal()).status()).isEqualTo(FineTuningJob.Status.SUCCEEDED);
            String six = JobCheckpoints.name(job.id(), 6);
            store.putTask(TENANT, "live", List.of(new Route(six, 1, 1)));

            assertThat(new JobCheckpoints(null, store, BundleLimits.defaults()).deleteAll(job)).isEqualTo(1);
            assertThat(store.versions(TENANT)).extracting(v -> v.id())
                    .containsExactlyInAnyOrder("routed@1", six + "@1");
            assertThat(server.jobs().checkpoints(job)).extracting(JobCheckpoints.Checkpoint::step)
                    .containsExactly(8, 6);
        }
    }

    @Test
    void expiredFilesAreDeletedFromTheStoreBesideTheLeases() throws Exception {
        Path dir = tmp.resolve("expiring");
        try (EmbeddedStore store = new EmbeddedStore(dir); Server server = Server.open(store, Duration.ofSeconds(1))) {
            Instant now = Instant.now();
            store.addFile(new StoredFile("file-old", TENANT, "old.jsonl", "fine-tune", 1, now.minusSeconds(7200),
                    now.minusSeconds(1)), "x".getBytes());
            TrainingFile live = server.files().upload(TENANT, "data.jsonl", "fine-tune",
                    TrainingReference.bytes("data.jsonl"), Duration.ofHours(1));
            assertThat(live.expiresAt()).isEqualTo(live.createdAt().plusSeconds(3600));
            assertThat(server.files().list(TENANT)).extracting(TrainingFile::id).containsExactly(live.id());
            Path content = dir.resolve("files").resolve("file-old.jsonl");
            assertThat(content).exists();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (Files.exists(content)) {
                assertThat(System.nanoTime()).as("expired file still stored").isLessThan(deadline);
                Thread.sleep(50);
            }
            assertThat(dir.resolve("files").resolve(live.id() + ".jsonl")).exists();
        }
    }

    @Test
    void aCrashedServersJobsGoOnAtTheNextStartAndComeOutAsIfNeverInterrupted() throws Exception {
        crashAndTakeOver(false);
    }

    @Test
    void aKeptStateTheServerCannotReadMakesTheJobGoOnFromItsStartWithTheSameResult() throws Exception {
        crashAndTakeOver(true);
    }

    private void crashAndTakeOver(boolean spoilState) throws Exception {
        Path live = tmp.resolve("live");
        Path crashed = tmp.resolve("crashed");
        Midway before;
        Trained expected;
        try (EmbeddedStore store = new EmbeddedStore(live); Server server = Server.open(store)) {
            before = runUntilMidway(server);
            // The disk as a kill -9 leaves it: a copy taken while the job trains and another waits.
            copy(live, crashed);
            // Uninterrupted, the same job on the live store (one server trains at a time in a process).
            assertThat(await(before.running(), x -> x.status().terminal()).status())
                    .isEqualTo(FineTuningJob.Status.SUCCEEDED);
            expected = Trained.of(server, before.running());
            await(before.queued(), x -> x.status().terminal());
        }
        Path state = crashed.resolve("job-state").resolve(before.running().id() + ".bin");
        assertThat(state).exists();
        if (spoilState) {
            Files.write(state, "written by another version".getBytes());
        }
        try (EmbeddedStore reopened = new EmbeddedStore(crashed); Server again = Server.open(reopened)) {
            assertTakenOver(again, before, expected);
        }
        assertThat(crashed.resolve("job-state")).isEmptyDirectory();
    }

    @Test
    void aStoppingServerLeavesItsJobsToTheNextOnTheSameDatabaseWhichFinishesThem() throws Exception {
        Trained expected = uninterrupted("long", STEPS);
        try (TestPostgres db = TestPostgres.open(); HikariDataSource first = pool(db);
                HikariDataSource second = pool(db)) {
            Flyway.configure().dataSource(first).locations("classpath:db/migration").load().migrate();
            Midway before;
            try (PostgresStore store = new PostgresStore(first); Server server = Server.open(store)) {
                before = runUntilMidway(server);
            }
            // And a job a dead process left running, whose training file is gone.
            try (PostgresStore store = new PostgresStore(second)) {
                store.putJob(new StoredJob("ftjob-orphan", TENANT, Instant.parse("2026-01-01T00:00:00Z"),
                        "{\"model\":\"stories15M\",\"training_file\":\"file-x\"}", 8, 10, "running", 3, 90, null,
                        null, null, "replica-gone"));
                // Its replica last said it was alive longer ago than the lease.
                try (var c = second.getConnection(); var st = c.createStatement()) {
                    st.executeUpdate("UPDATE fine_tuning_jobs SET heartbeat_at = now() - interval '2 minutes' "
                            + "WHERE id = 'ftjob-orphan'");
                }
                try (Server again = Server.open(store)) {
                    assertTakenOver(again, before, expected);
                    assertThat(messages(again.jobs().get(TENANT, before.running().id()).orElseThrow()))
                            .anySatisfy(m -> assertThat(m).matches("The server running the job is stopping after "
                                    + "step \\d+; the job goes on where it is on the next server to take it"));
                    FineTuningJob.Snapshot orphan = again.jobs().get(TENANT, "ftjob-orphan").orElseThrow().snapshot();
                    assertThat(orphan.status()).isEqualTo(FineTuningJob.Status.FAILED);
                    assertThat(orphan.error().code()).isEqualTo(FineTuningJobs.RESUME_FAILED);
                    assertThat(orphan.error().message()).contains("its training file 'file-x' was deleted");
                    assertThat(orphan.stepsDone()).isEqualTo(3);
                    assertThat(again.jobs().list(TENANT)).hasSize(4);
                }
            }
        }
    }

    static HikariDataSource pool(TestPostgres db) {
        HikariDataSource ds = new HikariDataSource();
        ds.setJdbcUrl(db.jdbcUrl());
        ds.setUsername(db.user());
        ds.setPassword(db.password());
        ds.setMaximumPoolSize(4);
        return ds;
    }

    static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else if (!p.getFileName().toString().equals(".lock")) {
                    try {
                        Files.copy(p, target);
                    } catch (java.nio.file.NoSuchFileException gone) {
                        // a temp file renamed meanwhile; the copy is the disk without it
                    }
                }
            }
        }
    }
}

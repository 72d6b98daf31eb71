package dev.reftserver.training;

import static dev.reftserver.training.FineTuningRestartTest.TENANT;
import static dev.reftserver.training.FineTuningRestartTest.await;
import static dev.reftserver.training.FineTuningRestartTest.messages;
import static dev.reftserver.training.FineTuningRestartTest.pool;
import static dev.reftserver.training.FineTuningRestartTest.reportedSteps;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.reftserver.error.ServiceException;
import dev.reftserver.registry.PostgresStore;
import dev.reftserver.registry.TestPostgres;
import dev.reftserver.training.FineTuningJob.Status;
import dev.reftserver.training.FineTuningRestartTest.Server;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;

/**
 * Two replicas training side by side on one PostgreSQL store, each with its own connections: a replica that starts
 * leaves the other's jobs alone, a cancel through either reaches the replica that runs the job, and the jobs of a
 * replica that can no longer reach the store (it died, or lost its network) are taken over by the other once their
 * lease runs out, and finished there.
 */
class FineTuningReplicasTest {

    static final Duration LEASE = Duration.ofSeconds(3);

    @BeforeAll
    static void load() {
        FineTuningRestartTest.load();
    }

    @AfterAll
    static void close() {
        FineTuningRestartTest.close();
    }

    @Test
    void aStartingReplicaLeavesTheOthersJobsAloneAndCancelsReachTheReplicaRunningThem() throws Exception {
        try (TestPostgres db = TestPostgres.open(); HikariDataSource a = pool(db); HikariDataSource b = pool(db)) {
            Flyway.configure().dataSource(a).locations("classpath:db/migration").load().migrate();
            try (PostgresStore storeOne = new PostgresStore(a); Server one = Server.open(storeOne, LEASE)) {
                TrainingFile file = one.files().upload(TENANT, "data.jsonl", "fine-tune",
                        TrainingReference.bytes("data.jsonl"));
                FineTuningJob running = one.create(file.id(), "long", 5000);
                FineTuningJob queued = one.create(file.id(), "later", 5000);
                await(running, s -> s.stepsDone() >= 1);
                try (PostgresStore storeTwo = new PostgresStore(b); Server two = Server.open(storeTwo, LEASE)) {
                    assertThat(two.jobs().replica()).isNotEqualTo(one.jobs().replica());
                    int before = running.snapshot().stepsDone();
                    Thread.sleep(2 * LEASE.toMillis()); // two leases of the second replica's sweeps
                    FineTuningJob.Snapshot seen = two.jobs().get(TENANT, running.id()).orElseThrow().snapshot();
                    assertThat(seen.status()).isEqualTo(Status.RUNNING);
                    assertThat(seen.stepsDone()).isGreaterThan(before);
                    assertThat(two.jobs().get(TENANT, queued.id()).orElseThrow().snapshot().status())
                            .isEqualTo(Status.QUEUED);

                    // Not started: cancelled at once, through the replica that does not run it.
                    assertThat(two.jobs().cancel(TENANT, queued.id()).snapshot().status())
                            .isEqualTo(Status.CANCELLED);
                    // Running: the replica that runs it stops it at its next step.
                    assertThat(two.jobs().cancel(TENANT, running.id()).snapshot().status())
                            .isEqualTo(Status.RUNNING);
                    FineTuningJob.Snapshot stopped = await(running, s -> s.status().terminal());
                    assertThat(stopped.status()).isEqualTo(Status.CANCELLED);
                    // The first replica's worker then reaches the queued job and leaves it cancelled.
                    Thread.sleep(LEASE.toMillis());

                    for (Server view : List.of(one, two)) {
                        FineTuningJob r = view.jobs().get(TENANT, running.id()).orElseThrow();
                        assertThat(r.snapshot().status()).isEqualTo(Status.CANCELLED);
                        assertThat(r.snapshot().stepsDone()).isEqualTo(stopped.stepsDone());
                        assertThat(messages(r).get(0))
                                .isEqualTo("The job was cancelled after " + stopped.stepsDone() + " steps");
                        FineTuningJob q = view.jobs().get(TENANT, queued.id()).orElseThrow();
                        assertThat(q.snapshot().status()).isEqualTo(Status.CANCELLED);
                        assertThat(q.snapshot().stepsDone()).isZero();
                        assertThat(messages(q)).containsExactly("The job was cancelled before it started",
                                "Files validated, moving job to queued state",
                                "Validating training file: " + file.id());
                    }
                    // No result; the cancelled job keeps the checkpoints of the epochs it finished.
                    assertThat(storeTwo.versions(TENANT)).extracting(v -> v.name())
                            .allSatisfy(n -> assertThat(n).startsWith(running.id() + ".ckpt-step-"));
                    assertThatThrownBy(() -> two.jobs().cancel(TENANT, running.id()))
                            .isInstanceOfSatisfying(ServiceException.class,
                                    e -> assertThat(e.status()).isEqualTo(HttpStatus.CONFLICT));
                    assertThatThrownBy(() -> two.jobs().cancel("other", running.id()))
                            .isInstanceOfSatisfying(ServiceException.class,
                                    e -> assertThat(e.status()).isEqualTo(HttpStatus.NOT_FOUND));
                }
            }
        }
    }

    @Test
    void theJobsOfAReplicaCutOffFromTheStoreAreTakenOverByAnotherOnceTheirLeaseRunsOut() throws Exception {
        try (TestPostgres db = TestPostgres.open(); HikariDataSource a = pool(db); HikariDataSource b = pool(db)) {
            Flyway.configure().dataSource(a).locations("classpath:db/migration").load().migrate();
            try (PostgresStore storeOne = new PostgresStore(a); Server one = Server.open(storeOne, LEASE);
                    PostgresStore storeTwo = new PostgresStore(b); Server two = Server.open(storeTwo, LEASE)) {
                TrainingFile file = one.files().upload(TENANT, "data.jsonl", "fine-tune",
                        TrainingReference.bytes("data.jsonl"));
                int steps = 40;
                FineTuningJob running = one.create(file.id(), "long", steps);
                await(running, s -> s.stepsDone() >= 3);

                a.close(); // the first replica can no longer write: its job stays "running" in the store
                long cut = System.nanoTime();
                Thread.sleep(LEASE.toMillis() / 6);
                assertThat(reportedSteps(two.jobs().get(TENANT, running.id()).orElseThrow()))
                        .as("within the lease, nobody goes on with it").hasSizeLessThan(steps);

                FineTuningJob.Snapshot done;
                do {
                    Thread.sleep(50);
                    done = two.jobs().get(TENANT, running.id()).orElseThrow().snapshot();
                    assertThat(System.nanoTime() - cut).isLessThan(20 * LEASE.toNanos());
                } while (!done.status().terminal());
                assertThat(done.status()).as(done.toString()).isEqualTo(Status.SUCCEEDED);
                assertThat(done.stepsDone()).isEqualTo(steps);
                FineTuningJob seen = two.jobs().get(TENANT, running.id()).orElseThrow();
                assertThat(reportedSteps(seen)).isEqualTo(IntStream.rangeClosed(1, steps).boxed().toList());
                assertThat(messages(seen)).anySatisfy(m -> assertThat(m)
                        .startsWith("The server running the job stopped; it goes on here after step "));
                assertThat(storeTwo.versions(TENANT)).extracting(v -> v.id()).containsExactlyInAnyOrder("long@1",
                        JobCheckpoints.name(running.id(), 36) + "@1", JobCheckpoints.name(running.id(), 38) + "@1");
                assertThat(storeTwo.unfinishedJobs()).isEmpty();
            }
        }
    }
}

package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.model.CausalLM;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A row owns the lease that keeps its bundle loaded: the engine releases it exactly once, when it finishes the row,
 * whatever the reason, and never while the row is still being run (a client that leaves mid-prefill included).
 */
class RowLeaseTest {

    static TransformerLM base;
    static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        base = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        base.close();
    }

    static final class CountingLease implements AutoCloseable {
        final AtomicInteger closes = new AtomicInteger();

        @Override
        public void close() {
            closes.incrementAndGet();
        }
    }

    static Scheduler scheduler(CausalLM model, int maxQueue, Duration grace) {
        return new Scheduler(model, tokenizer, new EngineSettings(2, maxQueue, 2 * 256, Duration.ofMinutes(1), grace),
                EngineMetrics.standalone(), null);
    }

    static Generation row(AutoCloseable lease, GenerationListener listener, int maxTokens, long timeoutNanos) {
        return new Generation("acme", tokenizer.encode("Once upon a time"), SamplingParams.greedy(maxTokens), null,
                lease, listener, timeoutNanos);
    }

    @Test
    void aRowCancelledDuringPrefillReleasesItsLeaseOnlyWhenItFinishes() throws Exception {
        ControllableModel model = new ControllableModel(base);
        try (Scheduler scheduler = scheduler(model, 16, Duration.ofSeconds(5))) {
            CountDownLatch gate = model.holdNextPrefill();
            CountingLease lease = new CountingLease();
            Collect out = new Collect();
            Generation g = row(lease, out, 12, TimeUnit.MINUTES.toNanos(1));
            scheduler.submit(List.of(g));
            assertThat(model.prefillEntered.await(30, TimeUnit.SECONDS)).isTrue();

            g.cancel(); // the client went away while its prompt is in the model
            assertThat(g.state()).isEqualTo(RowState.PREFILLING);
            assertThat(lease.closes).hasValue(0);
            assertThat(out.done).isNotDone();

            gate.countDown();
            assertThat(out.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.CANCELLED);
            assertThat(g.state()).isEqualTo(RowState.FINISHED);
            assertThat(lease.closes).hasValue(1);
        }
    }

    @Test
    void aRowThatRunsToItsEndReleasesItsLeaseOnce() throws Exception {
        try (Scheduler scheduler = scheduler(base, 16, Duration.ofSeconds(5))) {
            CountingLease lease = new CountingLease();
            Collect out = new Collect();
            scheduler.submit(List.of(row(lease, out, 6, TimeUnit.MINUTES.toNanos(1))));
            assertThat(out.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(lease.closes).hasValue(1);
        }
    }

    @Test
    void aRowFailedByItsPrefillReleasesItsLeaseOnce() throws Exception {
        ControllableModel model = new ControllableModel(base);
        model.failNextPrefill.set(new OutOfMemoryError("injected"));
        try (Scheduler scheduler = scheduler(model, 16, Duration.ofSeconds(5))) {
            CountingLease lease = new CountingLease();
            Collect out = new Collect();
            scheduler.submit(List.of(row(lease, out, 6, TimeUnit.MINUTES.toNanos(1))));
            assertThat(out.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
            assertThat(lease.closes).hasValue(1);
        }
    }

    @Test
    void aRowThatTimesOutInTheQueueReleasesItsLeaseOnce() throws Exception {
        try (Scheduler scheduler = scheduler(base, 16, Duration.ofSeconds(5))) {
            CountingLease lease = new CountingLease();
            Collect out = new Collect();
            scheduler.submit(List.of(row(lease, out, 6, 0)));
            assertThat(out.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.TIMEOUT);
            assertThat(lease.closes).hasValue(1);
        }
    }

    @Test
    void rowsCutAtShutdownReleaseTheirLeasesOnce() throws Exception {
        List<CountingLease> leases = new ArrayList<>();
        List<Collect> outs = new ArrayList<>();
        Scheduler scheduler = scheduler(base, 16, Duration.ZERO);
        List<Generation> rows = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            leases.add(new CountingLease());
            outs.add(new Collect());
            rows.add(row(leases.get(i), outs.get(i), 200, TimeUnit.MINUTES.toNanos(1)));
        }
        scheduler.submit(rows);
        scheduler.close();

        for (int i = 0; i < 6; i++) {
            assertThat(outs.get(i).done.get(30, TimeUnit.SECONDS)).isIn(FinishReason.SHUTDOWN, FinishReason.LENGTH);
            assertThat(leases.get(i).closes).as("row " + i).hasValue(1);
        }
    }

    @Test
    void aRequestRefusedAtTheDoorLeavesItsLeaseWithTheCaller() throws Exception {
        ControllableModel model = new ControllableModel(base);
        try (Scheduler scheduler = scheduler(model, 1, Duration.ofSeconds(5))) {
            CountDownLatch gate = model.holdNextPrefill();
            scheduler.submit(List.of(row(new CountingLease(), new Collect(), 4, TimeUnit.MINUTES.toNanos(1))));
            assertThat(model.prefillEntered.await(30, TimeUnit.SECONDS)).isTrue();
            CountingLease refused = new CountingLease();
            scheduler.submit(List.of(row(new CountingLease(), new Collect(), 4, TimeUnit.MINUTES.toNanos(1))));

            assertThatThrownBy(() -> scheduler.submit(List.of(row(refused, new Collect(), 4,
                    TimeUnit.MINUTES.toNanos(1))))).isInstanceOf(QueueFullException.class);
            assertThat(refused.closes).hasValue(0);
            gate.countDown();
        }
    }

    @Test
    void aSharedLeaseClosesOnceWhenItsLastShareCloses() throws Exception {
        CountingLease lease = new CountingLease();
        List<AutoCloseable> shares = SharedLease.split(lease, 3);

        shares.get(0).close();
        shares.get(0).close();
        shares.get(2).close();
        assertThat(lease.closes).hasValue(0);
        shares.get(1).close();
        assertThat(lease.closes).hasValue(1);
        shares.get(1).close();
        assertThat(lease.closes).hasValue(1);
    }
}

package dev.reftserver.model.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class CpuTeamTest {

    @Test
    void runsEveryPartOnceWithPartZeroOnTheCaller() {
        try (CpuTeam team = CpuTeam.of(3)) {
            assertThat(team.size()).isEqualTo(3);
            for (int round = 0; round < 200; round++) {
                AtomicIntegerArray calls = new AtomicIntegerArray(3);
                Set<Thread> threads = ConcurrentHashMap.newKeySet();
                Thread[] partZero = new Thread[1];
                team.run(3, p -> {
                    calls.incrementAndGet(p);
                    threads.add(Thread.currentThread());
                    if (p == 0) {
                        partZero[0] = Thread.currentThread();
                    }
                });
                assertThat(calls.toString()).isEqualTo("[1, 1, 1]");
                assertThat(threads).hasSize(3);
                assertThat(partZero[0]).isSameAs(Thread.currentThread());
            }
        }
    }

    @Test
    void fewerPartsThanThreadsLeaveTheOtherHelpersIdle() {
        try (CpuTeam team = CpuTeam.of(4)) {
            AtomicIntegerArray calls = new AtomicIntegerArray(4);
            team.run(2, calls::incrementAndGet);
            assertThat(calls.toString()).isEqualTo("[1, 1, 0, 0]");
        }
    }

    @Test
    void resultsWrittenByHelpersAreVisibleAfterRun() {
        try (CpuTeam team = CpuTeam.of(2)) {
            long[] out = new long[2];
            for (int round = 1; round <= 1000; round++) {
                long r = round;
                team.run(2, p -> out[p] = r * (p + 1));
                assertThat(out).containsExactly(r, 2 * r);
            }
        }
    }

    @Test
    void aFailingPartIsRethrownAfterTheOthersFinish() {
        try (CpuTeam team = CpuTeam.of(2)) {
            AtomicIntegerArray calls = new AtomicIntegerArray(2);
            assertThatThrownBy(() -> team.run(2, p -> {
                calls.incrementAndGet(p);
                if (p == 1) {
                    throw new IllegalArgumentException("part 1 failed");
                }
            })).isInstanceOf(IllegalArgumentException.class).hasMessage("part 1 failed");
            assertThat(calls.toString()).isEqualTo("[1, 1]");
            // The team still works afterwards.
            AtomicIntegerArray again = new AtomicIntegerArray(2);
            team.run(2, again::incrementAndGet);
            assertThat(again.toString()).isEqualTo("[1, 1]");
        }
    }

    @Test
    void bothPartsFailingKeepTheSecondAsSuppressed() {
        try (CpuTeam team = CpuTeam.of(2)) {
            assertThatThrownBy(() -> team.run(2, p -> {
                throw new IllegalStateException("part " + p);
            })).hasMessage("part 0").satisfies(e -> assertThat(e.getSuppressed()).hasSize(1));
        }
    }

    @Test
    void aTeamOfOneRunsInlineAndRejectsMoreParts() {
        CpuTeam solo = CpuTeam.of(1);
        Thread[] ran = new Thread[1];
        solo.run(1, p -> ran[0] = Thread.currentThread());
        assertThat(ran[0]).isSameAs(Thread.currentThread());
        assertThatThrownBy(() -> solo.run(2, p -> { })).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CpuTeam.of(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void parkedHelpersWakeForTheNextRun() throws InterruptedException {
        try (CpuTeam team = CpuTeam.of(2)) {
            team.run(2, p -> { });
            // Past the spin and yield phases: the helper has parked.
            Thread.sleep(CpuTeam.YIELD_NANOS / 1_000_000 + 50);
            AtomicIntegerArray calls = new AtomicIntegerArray(2);
            team.run(2, calls::incrementAndGet);
            assertThat(calls.toString()).isEqualTo("[1, 1]");
        }
    }

    @Test
    void splitRangesCoverEveryIndexOnce() {
        assertThat(Split.ranges(10, 3)).containsExactly(0, 3, 6, 10);
        assertThat(Split.ranges(128, 2)).containsExactly(0, 64, 128);
        assertThat(Split.largestDivisorAtMost(6, 4)).isEqualTo(3);
        assertThat(Split.largestDivisorAtMost(2, 3)).isEqualTo(2);
        assertThat(Split.largestDivisorAtMost(1, 8)).isEqualTo(1);
        assertThat(Split.largestDivisorAtMost(7, 2)).isEqualTo(1);
        float[] m = {1, 2, 3, 4, 5, 6};  // [2, 3]
        assertThat(Split.columns(m, 2, 3, 1, 3)).containsExactly(2, 3, 5, 6);
        assertThat(Split.rows(m, 3, 1, 2)).containsExactly(4, 5, 6);
        assertThat(Split.range(m, 2, 4)).containsExactly(3, 4);
    }
}

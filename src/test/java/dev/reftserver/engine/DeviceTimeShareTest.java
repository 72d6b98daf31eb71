package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The gate's arithmetic on a hand-driven clock. */
class DeviceTimeShareTest {

    static final long MS = 1_000_000L;

    long now = 1_000 * MS;
    final DeviceTimeShare share = new DeviceTimeShare(0.25, () -> now);

    /** A serving step of {@code ms} that ends now, after the clock moved past it. */
    void serve(long ms) {
        now += ms * MS;
        share.servingRan(ms * MS);
    }

    void train(long ms) {
        now += ms * MS;
        share.trainingRan(ms * MS);
    }

    @Test
    void trainingRunsFreelyBeforeAnyServingAndWhenServingIsIdle() {
        train(500);
        assertThat(share.trainingMayRun()).isTrue();
        serve(10);
        train(100);
        assertThat(share.trainingShare()).isGreaterThan(0.25);
        assertThat(share.trainingMayRun()).as("serving ended 100 ms ago: idle").isTrue();
    }

    @Test
    void underServingLoadTrainingWaitsWhileItsShareIsAtTheLimit() {
        serve(30);
        assertThat(share.trainingMayRun()).as("no training yet: share 0").isTrue();
        share.trainingRan(30 * MS); // a step as long as serving's, overlapping it (clock not moved)
        assertThat(share.trainingShare()).isCloseTo(0.5, within(1e-12));
        assertThat(share.trainingMayRun()).isFalse();
        // Decay is common to both sums, so only serving's further work lowers the share.
        serve(30);
        assertThat(share.trainingMayRun()).as("30 / (30 + 60), decayed alike: 1/3").isFalse();
        serve(30);
        double t = 30 * Math.exp(-60.0 / 2000);
        double expected = t / (t + t + 30 * Math.exp(-30.0 / 2000) + 30);
        assertThat(share.trainingShare()).isCloseTo(expected, within(1e-9));
        assertThat(expected).isLessThan(0.25);
        assertThat(share.trainingMayRun()).isTrue();
    }

    @Test
    void alternatingUnderLoadSettlesAtTheConfiguredShare() {
        long trained = 0;
        long served = 0;
        for (int i = 0; i < 20_000; i++) { // 10 ms steps on both sides, serving never idle
            serve(10);
            served += 10;
            if (share.trainingMayRun()) {
                share.trainingRan(10 * MS);
                trained += 10;
            }
        }
        assertThat((double) trained / (trained + served)).isCloseTo(0.25, within(0.01));
    }

    @Test
    void aMaxShareOfOneNeverWaitsAndZeroWaitsWheneverServingIsBusy() {
        DeviceTimeShare all = new DeviceTimeShare(1.0, () -> now);
        DeviceTimeShare none = new DeviceTimeShare(0.0, () -> now);
        all.trainingRan(100 * MS);
        all.servingRan(1 * MS);
        none.servingRan(1 * MS);
        assertThat(all.trainingMayRun()).isTrue();
        assertThat(none.trainingMayRun()).isFalse();
        now += 51 * MS;
        assertThat(none.trainingMayRun()).isTrue();
    }

    @Test
    void aWaitingStepGivesUpWhenNoLongerWanted() throws InterruptedException {
        DeviceTimeShare none = new DeviceTimeShare(0.0, () -> now); // the clock stands: serving stays busy
        none.servingRan(1 * MS);
        assertThat(none.awaitTrainingTurn(() -> true)).isFalse();
        assertThat(share.awaitTrainingTurn(() -> true)).as("nothing to wait for").isTrue();
    }

    @Test
    void aLongServingStepInFlightCountsAsBusy() {
        serve(10);
        share.trainingRan(10 * MS);
        share.servingStarts();
        now += 500 * MS; // far past the idle gap, but the step has not ended
        assertThat(share.trainingMayRun()).isFalse();
        share.servingRan(500 * MS);
        assertThat(share.trainingMayRun()).as("10 / 520 of the recent time").isTrue();
    }

    @Test
    void refusesASettingOutsideZeroToOne() {
        assertThatThrownBy(() -> new DeviceTimeShare(1.5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("reft.training.max-share");
        assertThatThrownBy(() -> new DeviceTimeShare(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    }
}

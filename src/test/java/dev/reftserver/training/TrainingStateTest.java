package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.PositionSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A run's training state: a run restored from the state another took after k updates takes the same later updates,
 * bit for bit (what lets a job go on on another server), and a state of another run is refused.
 */
class TrainingStateTest extends ReferenceRunTestSupport {

    /** The reference run (30 updates of all 8 examples) with batches of 3, so epochs and batches differ. */
    static TrainingRun referenceRun() {
        return run(3);
    }

    static List<Double> losses(TrainingRun run, int updates) {
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < updates; i++) {
            out.add(run.step().loss());
        }
        return out;
    }

    @Test
    void aRestoredRunTakesTheSameUpdatesAsTheOneItsStateCameFrom() {
        try (TrainingRun whole = referenceRun(); TrainingRun first = referenceRun();
                TrainingRun second = referenceRun()) {
            List<Double> wholeLosses = losses(whole, 12);
            List<Double> before = losses(first, 5);
            byte[] state = first.state();
            second.restore(state);
            assertThat(second.stepsDone()).isEqualTo(5);
            assertThat(second.state()).isEqualTo(state);
            List<Double> after = losses(second, 7);

            List<Double> resumed = new ArrayList<>(before);
            resumed.addAll(after);
            assertThat(resumed).isEqualTo(wholeLosses);
            assertThat(second.state()).isEqualTo(whole.state());
            assertThat(second.bundle().toNativeZip(BundleLimits.defaults()))
                    .isEqualTo(whole.bundle().toNativeZip(BundleLimits.defaults()));
        }
    }

    @Test
    void aStateOfAnotherRunOrNoStateAtAllIsRefused() {
        BundleContents rank3 = InitialBundle.create(LoreftTrainingReferenceTest.model.config().shape(), "loreft",
                List.of(3), 3, PositionSpec.parse("l1"), false, 1);
        try (TrainingRun run = referenceRun(); TrainingRun other = TrainingRun.start(LoreftTrainingReferenceTest.model,
                LoreftTrainingReferenceTest.tokenizer, rank3, TrainingReference.data(), TrainingReference.settings())) {
            other.step();
            byte[] foreign = other.state();
            assertThatThrownBy(() -> run.restore(foreign)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("another run");
            byte[] state = run.state();
            assertThatThrownBy(() -> run.restore(Arrays.copyOf(state, state.length - 1)))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> run.restore(new byte[] {1, 2, 3})).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("not a training state");
            assertThat(run.stepsDone()).isZero();
        }
    }
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Which updates leave a checkpoint: the ends of the two epochs before the run's end, whatever the epochs' size. */
class JobCheckpointsTest {

    static List<Integer> due(int stepsPerEpoch, int totalSteps) {
        return IntStream.rangeClosed(1, totalSteps).filter(s -> JobCheckpoints.due(s, stepsPerEpoch, totalSteps))
                .boxed().toList();
    }

    @Test
    void theEndsOfTheTwoEpochsBeforeTheLast() {
        assertThat(due(1, 30)).containsExactly(28, 29); // one update an epoch
        assertThat(due(2, 24)).containsExactly(20, 22);
        assertThat(due(3, 6)).containsExactly(3); // two epochs: one before the last
        assertThat(due(1, 2)).containsExactly(1);
    }

    @Test
    void aRunEndingMidEpochCountsTheEpochEndsBeforeIt() {
        assertThat(due(3, 5)).containsExactly(3);
        assertThat(due(4, 17)).containsExactly(12, 16);
        assertThat(due(4, 16)).containsExactly(8, 12);
    }

    @Test
    void aSingleEpochOrUpdateHasOnlyItsResult() {
        assertThat(due(5, 5)).isEmpty();
        assertThat(due(1, 1)).isEmpty();
        assertThat(due(7, 3)).isEmpty();
    }
}

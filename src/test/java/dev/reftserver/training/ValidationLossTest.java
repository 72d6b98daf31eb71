package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * A validation file's loss against pyreft's run (reference/training/loreft-l1, full-batch updates, so each of its
 * per-update losses is the loss of all 8 examples at the weights before that update): held-out examples that are
 * the training examples give, after k updates, the loss pyreft took at update k + 1, whatever batches the
 * validation is evaluated in. Each update also scores a batch of the file, as OpenAI's {@code valid_loss}.
 */
class ValidationLossTest extends ReferenceRunTestSupport {

    static double validationLoss(TrainingRun run) {
        TrainingRun.Validation v = run.validation(run.examples());
        int batches = 0;
        while (!v.done()) {
            v.next();
            batches++;
        }
        int size = Math.min(run.settings().batchSize(), run.examples().size());
        assertThat(batches).isEqualTo((run.examples().size() + size - 1) / size);
        return v.loss();
    }

    @Test
    void inBatchesOfAnySizeTheLossWeighsEveryCompletionTokenAlike() {
        // Batches of 3, 3 and 2 examples (and of one) hold different numbers of completion tokens: a mean of the
        // batches' means would differ from the whole batch's.
        for (int batch : new int[] {8, 3, 1}) {
            try (TrainingRun run = run(batch)) {
                assertThat(validationLoss(run)).as("batches of %d", batch)
                        .isCloseTo(ref.loss(0), within(1e-5 * ref.loss(0)));
            }
        }
    }

    @Test
    void afterEachUpdateItIsTheLossPyreftTookBeforeTheNext() {
        try (TrainingRun run = run(8)) {
            assertThat(run.stepsPerEpoch()).isEqualTo(1);
            for (int k = 1; k <= 6; k++) {
                run.step();
                assertThat(validationLoss(run)).as("after %d updates", k)
                        .isCloseTo(ref.loss(k), within(1e-4 * ref.loss(k)));
            }
            assertThat(ref.loss(6)).isLessThan(ref.loss(0) * 0.9);
        }
        try (TrainingRun run = run(3)) {
            assertThat(run.stepsPerEpoch()).isEqualTo(3);
        }
    }

    @Test
    void eachUpdateScoresTheNextBatchOfTheFileInOrderFromTheFirstAgainAfterTheLast() {
        List<Integer> examples = IntStream.range(0, 8).boxed().toList();
        List<List<Integer>> batches = IntStream.rangeClosed(1, 7)
                .mapToObj(step -> TrainingRun.validationBatch(examples, 3, step)).toList();
        assertThat(batches).containsExactly(List.of(0, 1, 2), List.of(3, 4, 5), List.of(6, 7), List.of(0, 1, 2),
                List.of(3, 4, 5), List.of(6, 7), List.of(0, 1, 2));
        for (int batch : new int[] {8, 20}) {
            for (int step = 1; step <= 3; step++) {
                assertThat(TrainingRun.validationBatch(examples, batch, step)).isEqualTo(examples);
            }
        }
        assertThat(IntStream.rangeClosed(1, 9).mapToObj(step -> TrainingRun.validationBatch(examples, 1, step))
                .toList()).containsExactly(List.of(0), List.of(1), List.of(2), List.of(3), List.of(4), List.of(5),
                        List.of(6), List.of(7), List.of(0));
    }
}

package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.checkpoint.Safetensors;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Log-softmax and partial top-N selection on one row of logits. */
class TokenLogprobsTest {

    @Test
    void partialSelectionGivesTheSameTopAsAFullSortTiesByLowerId() {
        Random rnd = new Random(11);
        float[] v = new float[5000];
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.round(rnd.nextGaussian() * 20) / 4f; // many exact ties
        }
        Integer[] order = IntStream.range(0, v.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -v[i]).thenComparingInt(i -> i));
        for (int k : new int[] {0, 1, 5, 20, 64}) {
            int[] expected = Arrays.stream(order).limit(k).mapToInt(Integer::intValue).toArray();
            assertThat(TokenLogprobs.topIndices(v, 0, v.length, k)).as("k=%d", k).containsExactly(expected);
        }
    }

    @Test
    void logSoftmaxIsStableForHugeLogitsAndNormalised() {
        float[] logits = {1000f, 999f, 998f, -1000f};
        TokenLogprobs lp = TokenLogprobs.of(logits, 1, 4);
        double z = Math.log(1 + Math.exp(-1) + Math.exp(-2));
        assertThat((double) lp.logprob()).isCloseTo(-1 - z, within(1e-6));
        assertThat(lp.topIds()).containsExactly(0, 1, 2, 3);
        double total = 0;
        for (float x : lp.topLogprobs()) {
            assertThat(Float.isFinite(x)).isTrue();
            total += Math.exp(x);
        }
        assertThat(total).isCloseTo(1.0, within(1e-6));
    }

    @Test
    void aRowOfLogitsShiftedByTheReferenceNormaliserGivesTheReferenceLogprobs() {
        // The reference stores log_softmax rows; log_softmax is shift-invariant, so feeding a row (plus any
        // constant) back must reproduce it, and its top 20 must be the row's 20 largest entries.
        Safetensors ref = ReferenceFiles.tensors("reference/chat/stories15m-logprobs.safetensors");
        float[] rows = ref.read("little.greedy_step_logprobs").data();
        int vocab = 32000;
        for (int s = 0; s < 8; s++) {
            float[] row = Arrays.copyOfRange(rows, s * vocab, (s + 1) * vocab);
            float[] shifted = row.clone();
            for (int i = 0; i < vocab; i++) {
                shifted[i] += 3.5f;
            }
            int chosen = ReferenceFiles.argmax(row);
            TokenLogprobs lp = TokenLogprobs.of(shifted, chosen, 20);
            assertThat(lp.logprob()).isCloseTo(row[chosen], within(1e-5f));
            assertThat(lp.topIds()[0]).isEqualTo(chosen);
            for (int k = 0; k < 20; k++) {
                assertThat(lp.topLogprobs()[k]).isCloseTo(row[lp.topIds()[k]], within(1e-5f));
            }
            float[] sorted = row.clone();
            Arrays.sort(sorted);
            assertThat(lp.topLogprobs()[19]).isCloseTo(sorted[vocab - 20], within(1e-5f));
        }
    }
}

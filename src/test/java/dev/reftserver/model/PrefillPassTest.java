package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** How a chunked prefill cuts its prompts into passes (the model side is covered by ChunkedPrefillTest). */
class PrefillPassTest {

    @Test
    void rowsSitOutPassesPastTheirEndAndLogitsStartWhereAsked() {
        int[][] prompts = {{1, 2, 3, 4, 5}, {6, 7}, {8, 9, 10}};
        int[] slots = {4, 0, 2};
        int[] logitsFrom = {1, 1, 2};
        List<PrefillPass> passes = PrefillPass.split(prompts, slots, logitsFrom, 2);

        assertThat(passes).hasSize(3);
        PrefillPass first = passes.get(0);
        assertThat(first.start()).isZero();
        assertThat(first.rows()).containsExactly(0, 1, 2);
        assertThat(first.parts()).isDeepEqualTo(new int[][] {{1, 2}, {6, 7}, {8, 9}});
        assertThat(first.slots()).containsExactly(4, 0, 2);
        // Row 2 wants logits from position 2 on: none in this pass (from = its part's length).
        assertThat(first.from()).containsExactly(1, 1, 2);
        assertThat(first.end()).isEqualTo(2);

        PrefillPass second = passes.get(1);
        assertThat(second.start()).isEqualTo(2);
        assertThat(second.rows()).containsExactly(0, 2);
        assertThat(second.parts()).isDeepEqualTo(new int[][] {{3, 4}, {10}});
        assertThat(second.slots()).containsExactly(4, 2);
        assertThat(second.from()).containsExactly(0, 0);
        assertThat(second.end()).isEqualTo(4);

        PrefillPass third = passes.get(2);
        assertThat(third.rows()).containsExactly(0);
        assertThat(third.parts()).isDeepEqualTo(new int[][] {{5}});
        assertThat(third.end()).isEqualTo(5);
    }

    @Test
    void promptsWithinOneChunkRunInOnePass() {
        List<PrefillPass> passes = PrefillPass.split(new int[][] {{1, 2, 3}}, new int[] {0}, new int[] {2}, 512);
        assertThat(passes).hasSize(1);
        assertThat(passes.get(0).parts()[0]).containsExactly(1, 2, 3);
        assertThat(passes.get(0).from()).containsExactly(2);
    }
}

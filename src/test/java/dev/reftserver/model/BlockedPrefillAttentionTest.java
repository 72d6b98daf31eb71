package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ops.NativeOps;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A long prefill attends in blocks of queries, each over the keys it can see (causal), so its scores stay small;
 * the result, and what it writes into the cache, equal the whole square's: right-padded rows of different lengths,
 * a first chunk and a later one that reads the cached keys, with and without a sliding window.
 */
class BlockedPrefillAttentionTest {

    /** 2 layers, 4 query heads over 2 key/value heads of 8; layer 1 has a sliding window of 24. */
    private static final ModelConfig PLAIN = new ModelConfig(ModelConfig.Architecture.LLAMA, 32, 32, 64, 2, 4, 2, 8,
            4096, 10000, 1e-5, true, false, 1, 2);

    @Test
    void blocksOfQueriesGiveWhatTheWholeSquareGives() {
        ModelConfig windowed = new ModelConfig(PLAIN.architecture(), 32, 32, 64, 2, 4, 2, 8, 4096, PLAIN.rope(),
                1e-5, true, false, 1, List.of(2), new BlockOptions(PLAIN.block().queryScale(), false, false, 0, 0,
                BlockOptions.Activation.SILU, List.of(0, 24), false, false, false, null, List.of(true, true),
                BlockOptions.Multipliers.NONE, false));
        for (ModelConfig config : new ModelConfig[] {PLAIN, windowed}) {
            for (int layer = 0; layer < 2; layer++) {
                compare(config, layer);
            }
        }
    }

    private static void compare(ModelConfig config, int layer) {
        try (NDManager m = NDManager.newBaseManager()) {
            // 2 KB of scores: blocks of 16 queries (the least) at these sizes.
            Attention whole = new Attention(m, config, 1, 0.35, DataType.FLOAT32, Long.MAX_VALUE);
            Attention blocked = new Attention(m, config, 1, 0.35, DataType.FLOAT32, 2048);
            KvCache a = new KvCache(m, config, 1, 2, 512, 1024, DataType.FLOAT32);
            KvCache b = new KvCache(m, config, 1, 2, 512, 1024, DataType.FLOAT32);
            int[] slots = {0, 1};
            // First chunk: 100 positions, the second row's prompt 73 long (padded); then 60 more from position 100.
            chunk(m, config, layer, whole, blocked, a, b, slots, new int[] {100, 73}, 100, 0);
            for (int i = 0; i < 2; i++) {
                a.setLength(i, 100);
                b.setLength(i, 100);
            }
            chunk(m, config, layer, whole, blocked, a, b, slots, new int[] {60, 41}, 60, 100);
        }
    }

    private static void chunk(NDManager m, ModelConfig config, int layer, Attention whole, Attention blocked,
            KvCache a, KvCache b, int[] slots, int[] lengths, int tokens, int start) {
        a.ensure(2, start + tokens);
        b.ensure(2, start + tokens);
        try (NDManager step = m.newSubManager(); NativeOps op = new NativeOps()) {
            NDArray q = step.randomNormal(new Shape(2, tokens, 4, 8));
            NDArray k = step.randomNormal(new Shape(2, tokens, 2, 8));
            NDArray v = step.randomNormal(new Shape(2, tokens, 2, 8));
            StepBatch ba = StepBatch.prefill(step, config.block(), a, slots, lengths, lengths, tokens, start,
                    DataType.FLOAT32);
            StepBatch bb = StepBatch.prefill(step, config.block(), b, slots, lengths, lengths, tokens, start,
                    DataType.FLOAT32);
            float[] want = op.keep(whole.attend(op, ba, a, layer, 0, h(q), h(k), h(v)), step).toFloatArray();
            float[] got = op.keep(blocked.attend(op, bb, b, layer, 0, h(q), h(k), h(v)), step).toFloatArray();
            assertThat(got).hasSameSizeAs(want);
            // Only the padded rows' padding queries differ from a real query; all are compared.
            for (int i = 0; i < want.length; i++) {
                assertThat(got[i]).as("value %d", i).isCloseTo(want[i], within(1e-5f));
            }
            assertThat(values(step, a.keys(layer, 0))).containsExactly(values(step, b.keys(layer, 0)));
            assertThat(values(step, a.values(layer, 0))).containsExactly(values(step, b.values(layer, 0)));
        }
    }

    private static float[] values(NDManager step, long handle) {
        try (NativeOps op = new NativeOps()) {
            return op.keep(op.copy(handle), step).toFloatArray();
        }
    }

    private static long h(NDArray a) {
        return NativeOps.handle(a);
    }
}

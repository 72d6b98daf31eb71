package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ops.NativeOps;
import org.junit.jupiter.api.Test;

/** How the KV cache allocates: small at first, growing with the rows and lengths asked for, within its budget. */
class KvCacheGrowthTest {

    /** 2 layers, 2 key/value heads of 4: 2 x 2 x 2 x 4 x 4 = 128 bytes per token (float32). */
    private static final ModelConfig CONFIG = new ModelConfig(ModelConfig.Architecture.LLAMA, 32, 16, 32, 2, 4, 2, 4,
            8192, 10000, 1e-5, true, false, 1, 2);
    private static final long BYTES_PER_TOKEN = 128;

    private static KvCache cache(NDManager m, int maxRows, int maxTokens, long budget) {
        return new KvCache(m, CONFIG, 1, maxRows, maxTokens, budget, DataType.FLOAT32);
    }

    @Test
    void startsAtTheInitialLengthNotAtMaxRowsTimesMaxContext() {
        try (NDManager m = NDManager.newBaseManager(); KvCache cache = cache(m, 16, 8192, 16L * 8192)) {
            assertThat(cache.rows()).isEqualTo(16);
            assertThat(cache.capacity()).isEqualTo(KvCache.INITIAL_TOKENS);
            assertThat(cache.bytes()).isEqualTo(16L * KvCache.INITIAL_TOKENS * BYTES_PER_TOKEN);
        }
    }

    @Test
    void lengthAtLeastDoublesAndRowsGiveWayWithinTheBudget() {
        // budget 8,192 tokens: 16 rows of 256 at first; one row growing to 3,000 keeps only the row in use
        try (NDManager m = NDManager.newBaseManager(); KvCache cache = cache(m, 16, 8192, 8192)) {
            cache.ensure(1, 300);
            assertThat(cache.capacity()).isEqualTo(512);
            assertThat(cache.rows()).isEqualTo(1);
            cache.ensure(1, 3000);
            assertThat(cache.capacity()).isEqualTo(3000);
            assertThat(cache.rows()).isEqualTo(1);
            assertThat((long) cache.rows() * cache.capacity()).isLessThanOrEqualTo(8192);
            cache.ensure(3, 2000);
            assertThat(cache.rows()).isEqualTo(3);
            assertThat(cache.capacity()).isEqualTo(3000);
        }
    }

    @Test
    void growingKeepsWhatTheFilledSlotsHold() {
        try (NDManager m = NDManager.newBaseManager(); KvCache cache = cache(m, 4, 2048, 4 * 2048)) {
            float[] before;
            try (NDManager step = m.newSubManager()) {
                var keys = firstKeys(step, cache);
                keys.set(new NDIndex(":"), step.randomUniform(-1, 1, keys.getShape()));
                // keys() is a view: the write above went into the cache
                before = firstKeys(step, cache).toFloatArray();
            }
            cache.setLength(0, 10);
            cache.setLength(1, 10);
            cache.ensure(2, 1000);
            assertThat(cache.capacity()).isEqualTo(1000);
            try (NDManager step = m.newSubManager()) {
                assertThat(firstKeys(step, cache).toFloatArray()).containsExactly(before);
            }
        }
    }

    @Test
    void lengtheningKeepsEveryRowInUseButNotTheIdleOnes() {
        try (NDManager m = NDManager.newBaseManager(); KvCache cache = cache(m, 8, 4096, 8 * 4096)) {
            assertThat(cache.rows()).isEqualTo(8);
            cache.setLength(2, 7);
            cache.ensure(1, 1000);
            assertThat(cache.capacity()).isEqualTo(1000);
            assertThat(cache.rows()).as("slot 2 is in use").isEqualTo(3);
            assertThat(cache.length(2)).isEqualTo(7);
            cache.ensure(6, 1000);
            assertThat(cache.rows()).as("rows at least double when short").isEqualTo(6);
        }
    }

    /**
     * A bfloat16 cache (a model with bfloat16 weights): two bytes a value; growing keeps the filled positions bit for
     * bit, the new ones are zeros (never stale memory, which could hold a NaN), and moving a slot copies it exactly.
     */
    @Test
    void aBfloat16CacheGrowsAndMovesSlotsExactly() {
        try (NDManager m = NDManager.newBaseManager();
                KvCache cache = new KvCache(m, CONFIG, 1, 4, 2048, 4 * 2048, DataType.BFLOAT16);
                NativeOps op = new NativeOps()) {
            assertThat(cache.bfloat16()).isTrue();
            assertThat(cache.bytes()).isEqualTo(4L * KvCache.INITIAL_TOKENS * BYTES_PER_TOKEN / 2);
            long keys = cache.keys(1, 0);
            op.put(keys, op.bfloat16(NativeOps.handle(m.randomUniform(-1, 1, new ai.djl.ndarray.types.Shape(2, 2, 4,
                    10)))), new long[] {0, 0, 0, 0}, new long[] {2, 2, 4, 10}, new long[] {1, 1, 1, 1});
            float[] before = floats(op, m, op.slice(op.slice(cache.keys(1, 0), 0, 0, 2), 3, 0, 10));
            assertThat(before).doesNotContain(0f);
            cache.setLength(0, 10);
            cache.setLength(1, 10);
            cache.ensure(2, 1000);
            assertThat(cache.capacity()).isEqualTo(1000);
            assertThat(cache.bytes()).isEqualTo((long) cache.rows() * 1000 * BYTES_PER_TOKEN / 2);
            long grown = cache.keys(1, 0);
            assertThat(floats(op, m, op.slice(op.slice(grown, 0, 0, 2), 3, 0, 10))).containsExactly(before);
            assertThat(floats(op, m, op.slice(grown, 3, 10, 1000))).containsOnly(0f);
            float[] slot1 = floats(op, m, op.slice(op.slice(grown, 0, 1, 2), 3, 0, 10));
            cache.ensure(4, 1000);
            cache.move(1, 3);
            assertThat(cache.length(3)).isEqualTo(10);
            assertThat(floats(op, m, op.slice(op.slice(cache.keys(1, 0), 0, 3, 4), 3, 0, 10)))
                    .containsExactly(slot1);
        }
    }

    /** The values of a bfloat16 array, widened to float32 (exactly). */
    private static float[] floats(NativeOps op, NDManager m, long bfloat16) {
        try (NDManager tmp = m.newSubManager()) {
            return op.keep(op.float32(bfloat16), tmp).toFloatArray();
        }
    }

    /** Layer 1's keys of slots [0, 2), positions [0, 10): a view of the cache. */
    private static NDArray firstKeys(NDManager step, KvCache cache) {
        try (NativeOps op = new NativeOps()) {
            return op.keep(op.slice(op.slice(cache.keys(1, 0), 0, 0, 2), 3, 0, 10), step);
        }
    }

    @Test
    void shrinksBackOnceEveryRowHasLeft() {
        try (NDManager m = NDManager.newBaseManager(); KvCache cache = cache(m, 4, 2048, 4 * 2048)) {
            cache.ensure(1, 2048);
            cache.setLength(0, 2048);
            cache.shrinkIfEmpty();
            assertThat(cache.capacity()).as("a row still holds 2,048 tokens").isEqualTo(2048);
            cache.clear(0);
            cache.shrinkIfEmpty();
            assertThat(cache.capacity()).isEqualTo(KvCache.INITIAL_TOKENS);
            assertThat(cache.bytes()).isEqualTo(4L * KvCache.INITIAL_TOKENS * BYTES_PER_TOKEN);
        }
    }

    @Test
    void refusesMoreRowsOrPositionsThanItsLimits() {
        try (NDManager m = NDManager.newBaseManager(); KvCache cache = cache(m, 2, 512, 1024)) {
            assertThatThrownBy(() -> cache.ensure(3, 10)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> cache.ensure(1, 513)).isInstanceOf(IllegalArgumentException.class);
        }
    }
}

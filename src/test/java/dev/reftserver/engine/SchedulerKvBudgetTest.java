package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine's context and KV gauges follow the budget settings: the context a request may use is the configured
 * one (else the model's, capped to the budget), capacity is the budget, and bytes are what is allocated, which
 * starts at most one budget's worth and never at max rows x max context.
 */
class SchedulerKvBudgetTest {

    /** stories15M: 2 (K, V) x 6 layers x 6 heads x 48 x 4 bytes. */
    private static final long BYTES_PER_TOKEN = 13824;

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

    private static Scheduler scheduler(long budgetTokens, int maxContext) {
        return new Scheduler(base, tokenizer, new EngineSettings(4, 16, budgetTokens, maxContext,
                Duration.ofMinutes(1), Duration.ofSeconds(5), EngineSettings.DEFAULT_STALL_TIMEOUT),
                EngineMetrics.standalone(), null);
    }

    @Test
    void aConfiguredContextLimitsRowsAndTheCacheStartsWithinTheBudget() {
        try (Scheduler s = scheduler(1000, 100)) {
            assertThat(s.maxContext()).isEqualTo(100);
            assertThat(s.kvCacheCapacityTokens()).isEqualTo(1000);
            assertThat(s.kvCacheBytes()).isEqualTo(4 * 100 * BYTES_PER_TOKEN);
        }
    }

    @Test
    void withoutOneTheContextIsTheModelsCappedToTheBudget() {
        try (Scheduler s = scheduler(200, 0)) {
            assertThat(s.maxContext()).as("stories15M's 256 positions, capped").isEqualTo(200);
            assertThat(s.kvCacheBytes()).as("one row of 200").isEqualTo(200 * BYTES_PER_TOKEN);
        }
        try (Scheduler s = scheduler(1 << 20, 0)) {
            assertThat(s.maxContext()).isEqualTo(256);
            assertThat(s.kvCacheBytes()).isEqualTo(4 * 256 * BYTES_PER_TOKEN);
        }
    }
}

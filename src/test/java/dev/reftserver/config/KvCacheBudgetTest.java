package dev.reftserver.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.model.ModelConfig;
import org.junit.jupiter.api.Test;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** {@code reft.engine.kv-cache-memory} and {@code reft.engine.max-context} turned into a token budget. */
class KvCacheBudgetTest {

    private static final long GB = 1L << 30;
    /** Qwen2.5-0.5B's shape: 24 layers, 2 key/value heads of 64, 32,768 positions. */
    private static final ModelConfig QWEN = new ModelConfig(ModelConfig.Architecture.LLAMA, 151936, 896, 4864, 24, 14,
            2, 64, 32768, 1e6, 1e-6, true, true, -1, 151643);

    @Test
    void bytesPerTokenCountKeysAndValuesOfEveryLayerAndHead() {
        assertThat(KvCacheBudget.bytesPerToken(QWEN, 4)).isEqualTo(2L * 24 * 2 * 64 * 4);
        assertThat(KvCacheBudget.bytesPerToken(QWEN, 2)).isEqualTo(12288);
    }

    @Test
    void aSizeBecomesTokensAndTheContextIsTheModelsWhenItFits() {
        KvCacheBudget b = KvCacheBudget.resolve("2GB", 0, QWEN, 4, 24 * GB);
        assertThat(b.bytes()).isEqualTo(2 * GB);
        assertThat(b.tokens()).isEqualTo(2 * GB / 24576);
        assertThat(b.maxContext()).isEqualTo(32768);
    }

    @Test
    void aFractionIsOfPhysicalMemory() {
        KvCacheBudget b = KvCacheBudget.resolve("0.25", 0, QWEN, 4, 24 * GB);
        assertThat(b.bytes()).isEqualTo(6 * GB);
    }

    @Test
    void theDefaultContextIsCappedToWhatTheBudgetHoldsForOneRow() {
        KvCacheBudget b = KvCacheBudget.resolve("100MB", 0, QWEN, 4, 24 * GB);
        assertThat(b.tokens()).isEqualTo(100L * 1024 * 1024 / 24576);
        assertThat(b.maxContext()).isEqualTo((int) b.tokens());
    }

    @Test
    void aConfiguredContextIsKeptWhenTheBudgetHoldsARowOfIt() {
        assertThat(KvCacheBudget.resolve("1GB", 4096, QWEN, 4, 24 * GB).maxContext()).isEqualTo(4096);
    }

    @Test
    void aBudgetThatCannotHoldOneRowOfMaxContextNamesBothSettings() {
        assertThatThrownBy(() -> KvCacheBudget.resolve("100MB", 32768, QWEN, 4, 24 * GB))
                .isInstanceOf(KvBudgetException.class)
                .hasMessageContaining("reft.engine.kv-cache-memory=100MB")
                .hasMessageContaining("reft.engine.max-context=32768");
        assertThatThrownBy(() -> KvCacheBudget.resolve("1KB", 0, QWEN, 4, 24 * GB))
                .isInstanceOf(KvBudgetException.class).hasMessageContaining("less than one row");
    }

    @Test
    void malformedOrImpossibleSettingsAreRefusedInOneLine() {
        for (String bad : new String[] {"lots", "1.5", "0.0", "-2GB", "0"}) {
            assertThatThrownBy(() -> KvCacheBudget.resolve(bad, 0, QWEN, 4, 24 * GB)).as(bad)
                    .isInstanceOf(KvBudgetException.class).hasMessageContaining("reft.engine.kv-cache-memory");
        }
        assertThatThrownBy(() -> KvCacheBudget.resolve("32GB", 0, QWEN, 4, 24 * GB))
                .isInstanceOf(KvBudgetException.class).hasMessageContaining("more than this machine's");
        assertThatThrownBy(() -> KvCacheBudget.resolve("1GB", 65536, QWEN, 4, 24 * GB))
                .isInstanceOf(KvBudgetException.class).hasMessageContaining("exceeds the model's context");
        assertThatThrownBy(() -> KvCacheBudget.resolve("1GB", -1, QWEN, 4, 24 * GB))
                .isInstanceOf(KvBudgetException.class).hasMessageContaining("reft.engine.max-context");
    }

    @Test
    void startUpFailsWithTheOneLineReasonAndTheSettingsToChange() {
        KvBudgetException cause = new KvBudgetException("reft.engine.kv-cache-memory=1KB holds 0 KV tokens");
        FailureAnalysis analysis = new KvBudgetFailureAnalyzer().analyze(new IllegalStateException("wrapped", cause));
        assertThat(analysis.getDescription()).isEqualTo(
                "The KV cache cannot be sized: reft.engine.kv-cache-memory=1KB holds 0 KV tokens");
        assertThat(analysis.getAction()).contains("reft.engine.kv-cache-memory", "reft.engine.max-context");
    }
}

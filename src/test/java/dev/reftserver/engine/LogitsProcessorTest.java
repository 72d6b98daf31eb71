package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Penalties and logit bias as OpenAI and Hugging Face define them. */
class LogitsProcessorTest {

    @Test
    void noPenaltiesLeaveTheLogitsAlone() {
        LogitsProcessor p = new LogitsProcessor(Penalties.NONE, new int[] {1, 2});
        float[] logits = {1f, -2f, 3f};
        p.accept(2);
        p.apply(logits);
        assertThat(logits).containsExactly(1f, -2f, 3f);
        assertThat(p.isNone()).isTrue();
    }

    @Test
    void presenceAndFrequencyCountGeneratedTokensOnly() {
        LogitsProcessor p = new LogitsProcessor(new Penalties(0.5, 0.25, 1, Map.of()), new int[] {0});
        p.accept(1);
        p.accept(1);
        p.accept(2);
        float[] logits = {1f, 1f, 1f, 1f};
        p.apply(logits);
        // token 0 only in the prompt: untouched; token 1 twice: 1 - 2 * 0.25 - 0.5; token 2 once: 1 - 0.25 - 0.5
        assertThat(logits).containsExactly(1f, 0f, 0.25f, 1f);
    }

    @Test
    void repetitionDividesPositiveAndMultipliesNegativeLogitsOfPromptAndGeneratedTokensOnce() {
        LogitsProcessor p = new LogitsProcessor(new Penalties(0, 0, 2, Map.of()), new int[] {0, 1, 1});
        p.accept(2);
        p.accept(2);
        float[] logits = {4f, -3f, 6f, 5f};
        p.apply(logits);
        assertThat(logits).containsExactly(2f, -6f, 3f, 5f);
    }

    @Test
    void logitBiasIsAddedBeforeThePenalties() {
        LogitsProcessor p = new LogitsProcessor(new Penalties(0, 0, 2, Map.of(0, -100f, 3, 2f)), new int[] {3});
        float[] logits = {4f, 1f, 1f, 2f};
        p.apply(logits);
        // token 3: (2 + 2) / 2; token 0: banned
        assertThat(logits).containsExactly(-96f, 1f, 1f, 2f);
    }
}

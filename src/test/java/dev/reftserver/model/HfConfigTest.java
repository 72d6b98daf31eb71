package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.HfConfig;
import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/** config.json in both transformers forms, each family's defaults, and one-line refusals of what is unsupported. */
class HfConfigTest {

    private static ModelConfig parse(String name) {
        JsonObject cfg = ReferenceFiles.json("reference/models-next/" + name + "/config.json");
        JsonObject gen = ReferenceFiles.json("reference/models-next/" + name + "/generation_config.json");
        return HfConfig.parse(cfg, gen, name);
    }

    private static JsonObject llama(String extra) {
        return config("LlamaForCausalLM", extra);
    }

    private static JsonObject config(String architecture, String extra) {
        return JsonParser.parseString("""
                {"architectures": ["%s"], "hidden_size": 32, "num_attention_heads": 4,
                 "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 100,
                 "max_position_embeddings": 2048%s}""".formatted(architecture, extra)).getAsJsonObject();
    }

    @Test
    void readsLlama3RopeScalingFromBothConfigForms() {
        Rope v4 = parse("llama3-rope").rope();
        Rope v5 = parse("llama3-rope-v5config").rope();
        assertThat(v4).isEqualTo(new Rope(Rope.Type.LLAMA3, 500000, 32, 1, 4, 64)).isEqualTo(v5);
        assertThat(parse("llama3-rope").eosIds()).containsExactly(2, 3);
        assertThat(parse("llama3-rope").headDim()).isEqualTo(16);
    }

    /** The reference README's numbers: frequency 0 stays, 1 is smoothed with s = 0.3251, 2..7 are divided by 32. */
    @Test
    void llama3FrequenciesKeepShortWavelengthsSmoothTheMiddleAndDivideLongOnes() {
        Rope rope = parse("llama3-rope").rope();
        float[] plain = Rope.plain(500000).inverseFrequencies(16, 1);
        float[] scaled = rope.inverseFrequencies(16, 1);
        assertThat(scaled[0]).isEqualTo(plain[0]);
        double s = (64 / (2 * Math.PI / plain[1]) - 1) / 3;
        assertThat(s).isCloseTo(0.3251, Offset.offset(1e-4));
        // Computed in float32 as HF does, so equal to the double formula to float32 rounding.
        assertThat((double) scaled[1]).isCloseTo((1 - s) * plain[1] / 32 + s * plain[1],
                Offset.offset(1e-6 * plain[1]));
        for (int i = 2; i < 8; i++) {
            assertThat(scaled[i]).isEqualTo(plain[i] / 32f);
        }
    }

    @Test
    void linearDividesEveryFrequencyAndDynamicGrowsTheBaseOnlyPastTheTrainedContext() {
        Rope linear = HfConfig.parse(llama(", \"rope_theta\": 10000, \"rope_scaling\": {\"type\": \"linear\","
                + " \"factor\": 4}"), null, "t").rope();
        float[] plain = Rope.plain(10000).inverseFrequencies(8, 1);
        float[] lin = linear.inverseFrequencies(8, 1);
        for (int i = 0; i < 4; i++) {
            assertThat(lin[i]).isEqualTo(plain[i] / 4f);
        }
        Rope dynamic = HfConfig.parse(llama(", \"rope_parameters\": {\"rope_type\": \"dynamic\", \"factor\": 2,"
                + " \"rope_theta\": 10000}"), null, "t").rope();
        assertThat(dynamic.originalMaxPositions()).isEqualTo(2048);
        assertThat(dynamic.inverseFrequencies(8, 2048)).containsExactly(plain);
        double base = 10000 * Math.pow(2.0 * 4096 / 2048 - 1, 8 / 6.0);
        assertThat(dynamic.inverseFrequencies(8, 4096)[1]).isEqualTo((float) (1 / Math.pow(base, 2.0 / 8)));
    }

    @Test
    void eachFamilyGetsItsBlockOptions() {
        BlockOptions gemma = parse("gemma2").block();
        assertThat(gemma.slidingWindows()).containsExactly(16, 0, 16, 0);
        assertThat(gemma.gemmaNorms()).isTrue();
        assertThat(gemma.queryScale()).isEqualTo(1 / Math.sqrt(24));
        assertThat(gemma.attnSoftcap()).isEqualTo(2.0);
        assertThat(gemma.finalSoftcap()).isEqualTo(4.0);
        assertThat(gemma.activation()).isEqualTo(BlockOptions.Activation.GELU_TANH);
        assertThat(parse("gemma2").tiedEmbeddings()).isTrue();
        assertThat(parse("mistral-sliding").block().slidingWindows()).containsExactly(16, 16);
        assertThat(parse("qwen3").block().qkNorm()).isTrue();
        assertThat(parse("qwen3").block().slidingWindows()).containsExactly(0, 0);
        assertThat(parse("qwen3").attentionBias()).isFalse();
        assertThat(parse("phi3").headDim()).isEqualTo(8);
        assertThat(parse("phi3").block().slidingWindows()).containsExactly(0, 0);
        ModelConfig qwen2 = HfConfig.parse(config("Qwen2ForCausalLM", ", \"use_sliding_window\": true,"
                + " \"sliding_window\": 8, \"max_window_layers\": 1"), null, "t");
        assertThat(qwen2.block().slidingWindows()).containsExactly(0, 8);
        assertThat(qwen2.attentionBias()).isTrue();
    }

    @Test
    void takesEosFromGenerationConfigWhenConfigHasNone() {
        JsonObject gen = JsonParser.parseString("{\"eos_token_id\": [7, 9]}").getAsJsonObject();
        assertThat(HfConfig.parse(llama(""), gen, "t").eosIds()).containsExactly(7, 9);
        assertThat(HfConfig.parse(llama(", \"eos_token_id\": 5"), gen, "t").eosIds()).isEqualTo(List.of(5));
    }

    @Test
    void refusesAnUnsupportedArchitectureInOneLineNamingTheSupportedOnes() {
        JsonObject cfg = llama("").deepCopy();
        cfg.add("architectures", JsonParser.parseString("[\"FalconForCausalLM\"]"));
        assertThatThrownBy(() -> HfConfig.parse(cfg, null, "dir/config.json"))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("dir/config.json: unsupported architecture 'FalconForCausalLM' (supported: "
                        + "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM,"
                        + " Phi3ForCausalLM, GPT2LMHeadModel); set reft.model.path to a checkpoint of a supported"
                        + " kind");
    }

    @Test
    void refusesAnUnsupportedRopeTypeInEitherForm() {
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}"),
                null, "c")).isInstanceOf(CheckpointException.class)
                .hasMessage("c: unsupported rope_scaling rope_type 'yarn' (supported: default, linear, dynamic,"
                        + " llama3); set reft.model.path to a checkpoint of a supported kind");
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"rope_parameters\": {\"rope_type\": \"longrope\"}"),
                null, "c")).hasMessageStartingWith("c: unsupported rope_parameters rope_type 'longrope'");
    }

    @Test
    void refusesAnUnsupportedActivation() {
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"hidden_act\": \"relu\""), null, "c"))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("c: unsupported hidden_act 'relu' (supported: silu, gelu_pytorch_tanh); set"
                        + " reft.model.path to a checkpoint of a supported kind");
    }
}

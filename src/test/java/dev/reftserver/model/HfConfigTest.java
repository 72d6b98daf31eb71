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
                {"architectures": ["%s"], "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 4,
                 "head_dim": 8, "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 100,
                 "max_position_embeddings": 2048%s}""".formatted(architecture, extra)).getAsJsonObject();
    }

    /**
     * Keys config.json leaves out are the family's config class defaults, as transformers reads them: Qwen3's
     * head_dim is 128 and Gemma's 256 whatever the width, and the default KV heads differ by family.
     */
    @Test
    void leftOutHeadsAndHeadDimAreTheConfigClassDefaults() {
        record Family(String arch, int kvHeads, int headDim) {
        }
        for (Family f : List.of(new Family("LlamaForCausalLM", 32, 64), new Family("MistralForCausalLM", 8, 64),
                new Family("Qwen2ForCausalLM", 32, 64), new Family("Qwen3ForCausalLM", 32, 128),
                new Family("GemmaForCausalLM", 16, 256), new Family("Gemma2ForCausalLM", 4, 256),
                new Family("Gemma3ForCausalLM", 4, 256), new Family("SmolLM3ForCausalLM", 4, 64),
                new Family("Phi3ForCausalLM", 32, 64))) {
            ModelConfig c = HfConfig.parse(JsonParser.parseString("""
                    {"architectures": ["%s"], "hidden_size": 2048, "num_attention_heads": 32,
                     "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 100,
                     "max_position_embeddings": 2048}""".formatted(f.arch())).getAsJsonObject(), null, "t");
            assertThat(c.numKvHeads()).as(f.arch()).isEqualTo(f.kvHeads());
            assertThat(c.headDim()).as(f.arch()).isEqualTo(f.headDim());
        }
    }

    @Test
    void readsLlama3RopeScalingFromBothConfigForms() {
        Rope v4 = parse("llama3-rope").rope();
        Rope v5 = parse("llama3-rope-v5config").rope();
        assertThat(v4).isEqualTo(Rope.llama3(500000, 32, 1, 4, 64)).isEqualTo(v5);
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

    private static ModelConfig parseScaling(String name) {
        String dir = "reference/rope-scaling/" + name;
        return HfConfig.parse(ReferenceFiles.json(dir + "/config.json"),
                ReferenceFiles.json(dir + "/generation_config.json"), name);
    }

    /** The values transformers derives (reference.json records its attention_scaling). */
    @Test
    void readsYarnAndLongropeWithTheDefaultsTransformersDerives() {
        Rope qwen = parseScaling("qwen2-yarn").rope();
        assertThat(qwen).isEqualTo(Rope.yarn(10000, 8, 64, 32, 1, true, 0.1 * Math.log(8) + 1));
        Rope llama = parseScaling("llama-yarn-v5config").rope();
        assertThat(llama).isEqualTo(Rope.yarn(10000, 16, 48, 8, 2, false,
                (0.1 * 1.2 * Math.log(16) + 1) / (0.1 * 0.8 * Math.log(16) + 1)));
        for (String name : List.of("qwen2-yarn", "llama-yarn-v5config", "phi3-longrope")) {
            double hf = ReferenceFiles.json("reference/rope-scaling/" + name + "/reference.json")
                    .get("attention_scaling").getAsDouble();
            assertThat(parseScaling(name).rope().attentionFactor()).as(name).isCloseTo(hf, Offset.offset(1e-12));
        }
        ModelConfig phi3 = parseScaling("phi3-longrope");
        Rope longrope = phi3.rope();
        // No factor: max_position_embeddings / the top-level original_max_position_embeddings.
        assertThat(longrope.originalMaxPositions()).isEqualTo(32);
        assertThat(longrope.attentionFactor()).isCloseTo(Math.sqrt(2), Offset.offset(1e-12));
        assertThat(longrope.rotaryDim(phi3.headDim())).isEqualTo(12);
        assertThat(longrope.rebuildOnSwitch()).isTrue();
        assertThat(longrope.longFactors(32)).isFalse();
        assertThat(longrope.longFactors(33)).isTrue();
        float[] shortInv = longrope.inverseFrequencies(12, 32);
        float[] longInv = longrope.inverseFrequencies(12, 33);
        float[] plain = Rope.plain(10000).inverseFrequencies(12, 1);
        assertThat(shortInv[5]).isCloseTo(plain[5] / 2.5f, Offset.offset(plain[5] * 1e-6f));
        assertThat(longInv[5]).isCloseTo(plain[5] / 32f, Offset.offset(plain[5] * 1e-6f));
    }

    @Test
    void yarnExtendsTheContextToTheOriginalTimesTheFactor() {
        // Qwen2.5's model card: max_position_embeddings stays 32,768, yarn factor 4 over the original 32,768.
        ModelConfig qwen = HfConfig.parse(config("Qwen2ForCausalLM", ", \"max_position_embeddings\": 32768,"
                + " \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0,"
                + " \"original_max_position_embeddings\": 32768}").deepCopy(), null, "t");
        assertThat(qwen.maxPositions()).isEqualTo(131072);
        assertThat(parseScaling("qwen2-yarn").maxPositions()).isEqualTo(512);
        // A factor past what the RoPE tables hold (2^28 values of head_dim 8) stops there.
        ModelConfig huge = HfConfig.parse(config("Qwen2ForCausalLM", ", \"rope_scaling\": {\"type\": \"yarn\","
                + " \"factor\": 1e12, \"original_max_position_embeddings\": 2048}"), null, "t");
        assertThat(huge.maxPositions()).isEqualTo((1 << 28) / 8);
    }

    @Test
    void refusesAContextItsRopeTablesCannotHold() {
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"max_position_embeddings\": 2000000000"), null, "c"))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("c: max_position_embeddings 2000000000 is outside 1 to 33554432 (the positions whose"
                        + " RoPE tables of head_dim 8 fit in 268435456 values)");
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"max_position_embeddings\": 0"), null, "c"))
                .hasMessageStartingWith("c: max_position_embeddings 0 is outside 1 to");
        assertThat(parseScaling("phi3-longrope").maxPositions()).isEqualTo(1024);
    }

    @Test
    void yarnKeepsFastFrequenciesDividesSlowOnesAndRampsBetween() {
        // head_dim 16, theta 10000, original 64, beta 32/1: the ramp runs over dimensions 0 to 3.
        Rope yarn = Rope.yarn(10000, 8, 64, 32, 1, true, 1);
        float[] plain = Rope.plain(10000).inverseFrequencies(16, 1);
        float[] inv = yarn.inverseFrequencies(16, 1);
        assertThat(inv[0]).isCloseTo(plain[0], Offset.offset(plain[0] * 1e-6f));
        assertThat(inv[1]).isCloseTo(plain[1] * (2 / 3f + 1 / 24f), Offset.offset(plain[1] * 1e-6f));
        for (int i = 3; i < 8; i++) {
            assertThat(inv[i]).isCloseTo(plain[i] / 8, Offset.offset(plain[i] * 1e-6f));
        }
    }

    @Test
    void phi3TakesItsOlderLongropeNamesAndOnlyPhi3RotatesPartOfAHead() {
        String factors = "\"short_factor\": [1, 1], \"long_factor\": [2, 2]";
        ModelConfig su = HfConfig.parse(config("Phi3ForCausalLM", ", \"num_attention_heads\": 8,"
                + " \"partial_rotary_factor\": 0.5, \"rope_scaling\": {\"type\": \"su\", \"short_factor\": [1],"
                + " \"long_factor\": [2]}"), null, "t");
        assertThat(su.rope().type()).isEqualTo(Rope.Type.LONGROPE);
        // Phi3Config's own default for original_max_position_embeddings.
        assertThat(su.rope().originalMaxPositions()).isEqualTo(4096);
        assertThat(su.rope().rotaryDim(su.headDim())).isEqualTo(2);
        Rope llamaLongrope = HfConfig.parse(llama(", \"head_dim\": 4, \"rope_scaling\": {\"rope_type\":"
                + " \"longrope\", \"original_max_position_embeddings\": 64, " + factors + "}"), null, "t").rope();
        assertThat(llamaLongrope.rebuildOnSwitch()).isFalse();
        // Llama's plain RoPE ignores the setting, as transformers' default frequencies do; a scaled one refuses it
        ModelConfig plain = HfConfig.parse(llama(", \"partial_rotary_factor\": 0.5"), null, "c");
        assertThat(plain.rope().rotaryDim(plain.headDim())).isEqualTo(plain.headDim());
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"partial_rotary_factor\": 0.5, \"rope_scaling\":"
                + " {\"rope_type\": \"linear\", \"factor\": 2.0}"), null, "c"))
                .isInstanceOf(CheckpointException.class).hasMessageStartingWith(
                        "c: unsupported partial_rotary_factor 0.5 for LlamaForCausalLM (only Phi-3");
        assertThatThrownBy(() -> HfConfig.parse(config("Phi3ForCausalLM", ", \"rope_scaling\": {\"type\":"
                + " \"linear\", \"factor\": 2}"), null, "c")).hasMessageStartingWith(
                        "c: unsupported rope_scaling rope_type 'linear' for Phi-3 (supported: default, longrope)");
        assertThatThrownBy(() -> HfConfig.parse(config("Phi3ForCausalLM", ", \"rope_scaling\": {\"type\":"
                + " \"longrope\", " + factors + "}"), null, "c")).hasMessage("c: longrope short_factor and"
                        + " long_factor need 4 entries each (one per rotating frequency), not 2 and 2");
    }

    @Test
    void eachFamilyGetsItsBlockOptions() {
        BlockOptions gemma2 = parse("gemma2").block();
        assertThat(gemma2.slidingWindows()).containsExactly(16, 0, 16, 0);
        assertThat(gemma2.gemmaNorms()).isTrue();
        assertThat(gemma2.queryScale()).isEqualTo(1 / Math.sqrt(24));
        assertThat(gemma2.attnSoftcap()).isEqualTo(2.0);
        assertThat(gemma2.finalSoftcap()).isEqualTo(4.0);
        assertThat(gemma2.activation()).isEqualTo(BlockOptions.Activation.GELU_TANH);
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
        assertThat(qwen2.block().outputBias()).isFalse();
        ModelConfig gemma = HfConfig.parse(config("GemmaForCausalLM", ", \"hidden_act\": \"gelu\", \"head_dim\": 16"),
                null, "t");
        assertThat(gemma.block().gemmaNorms()).isTrue();
        assertThat(gemma.block().sandwichNorms()).isFalse();
        assertThat(gemma.block().activation()).isEqualTo(BlockOptions.Activation.GELU_TANH);
        assertThat(gemma.block().queryScale()).isEqualTo(0.25);
        assertThat(gemma.block().attnSoftcap()).isZero();
        assertThat(gemma.block().slidingWindows()).containsExactly(0, 0);
        assertThat(gemma.tiedEmbeddings()).isTrue();
        assertThat(gemma2.sandwichNorms()).isTrue();
    }

    @Test
    void gemma3RotatesItsLocalLayersWithTheirOwnBaseInEitherConfigForm() {
        ModelConfig hub = HfConfig.parse(ReferenceFiles.json("reference/variants/gemma3/config.json"), null, "hub");
        ModelConfig v5 = HfConfig.parse(JsonParser.parseString("""
                {"architectures": ["Gemma3ForCausalLM"], "hidden_size": 16, "num_attention_heads": 4,
                 "num_key_value_heads": 1, "head_dim": 8, "num_hidden_layers": 3, "intermediate_size": 40,
                 "vocab_size": 32000, "max_position_embeddings": 1024, "query_pre_attn_scalar": 24,
                 "sliding_window": 7, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
                 "rope_parameters": {
                   "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                   "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}}""")
                .getAsJsonObject(), null, "v5");
        for (ModelConfig c : List.of(hub, v5)) {
            assertThat(c.block().slidingWindows()).containsExactly(7, 0, 7);
            assertThat(c.rope()).isEqualTo(Rope.scaled(Rope.Type.LINEAR, 1_000_000.0, 8.0, 1024));
            assertThat(c.block().slidingRope()).isEqualTo(Rope.plain(10_000.0));
            assertThat(c.block().qkNorm()).isTrue();
            assertThat(c.block().gemmaNorms()).isTrue();
            assertThat(c.block().sandwichNorms()).isTrue();
            assertThat(c.block().queryScale()).isEqualTo(1 / Math.sqrt(24));
            assertThat(c.block().attnSoftcap()).isZero();
            assertThat(c.block().finalSoftcap()).isZero();
        }
        // other families keep one RoPE for every layer
        assertThat(parse("gemma2").block().slidingRope()).isNull();
    }

    /**
     * Gemma 3 4B and larger are Gemma3ForConditionalGeneration, their text_config naming only what differs from
     * Gemma3TextConfig's defaults (this is gemma-3-4b-it's config.json in form and values); what transformers 5.18
     * derives from it was printed with {@code Gemma3Config(**config).text_config}.
     */
    @Test
    void readsGemma3sMultimodalConfigWithTransformersDefaults() {
        ModelConfig c = HfConfig.parse(JsonParser.parseString("""
                {"architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999,
                 "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
                 "mm_tokens_per_image": 256, "model_type": "gemma3",
                 "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                   "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                   "sliding_window": 1024},
                 "torch_dtype": "bfloat16",
                 "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                   "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                   "patch_size": 14, "vision_use_head": false}}""").getAsJsonObject(), null, "4b");
        assertThat(c.vocabSize()).isEqualTo(262_208);
        assertThat(c.hiddenSize()).isEqualTo(2560);
        assertThat(c.intermediateSize()).isEqualTo(10240);
        assertThat(c.numLayers()).isEqualTo(34);
        assertThat(c.numHeads()).isEqualTo(8);
        assertThat(c.numKvHeads()).isEqualTo(4);
        assertThat(c.headDim()).isEqualTo(256);
        assertThat(c.maxPositions()).isEqualTo(131_072);
        assertThat(c.eosIds()).containsExactly(1, 106);
        assertThat(c.bosId()).isEqualTo(2);
        assertThat(c.tiedEmbeddings()).isTrue();
        assertThat(c.rope()).isEqualTo(Rope.scaled(Rope.Type.LINEAR, 1_000_000.0, 8.0, 131_072));
        assertThat(c.block().slidingRope()).isEqualTo(Rope.plain(10_000.0));
        assertThat(c.block().queryScale()).isEqualTo(1 / 16.0);
        assertThat(c.block().activation()).isEqualTo(BlockOptions.Activation.GELU_TANH);
        assertThat(c.block().attnSoftcap()).isZero();
        assertThat(c.block().finalSoftcap()).isZero();
        assertThat(c.block().slidingWindows().subList(0, 7)).containsExactly(1024, 1024, 1024, 1024, 1024, 0, 1024);
        // With no EOS anywhere, Gemma3TextConfig's own; generation_config's comes first.
        String bare = """
                {"architectures": ["Gemma3ForConditionalGeneration"], "text_config": {"num_hidden_layers": 2,
                 "max_position_embeddings": 64}}""";
        assertThat(HfConfig.parse(JsonParser.parseString(bare).getAsJsonObject(), null, "b").eosIds())
                .containsExactly(1);
        assertThat(HfConfig.parse(JsonParser.parseString(bare).getAsJsonObject(),
                JsonParser.parseString("{\"eos_token_id\": [1, 106]}").getAsJsonObject(), "b").eosIds())
                .containsExactly(1, 106);
        // An encoder (EmbeddingGemma) is refused in one line.
        JsonObject encoder = config("Gemma3ForCausalLM", ", \"use_bidirectional_attention\": true");
        assertThatThrownBy(() -> HfConfig.parse(encoder, null, "e")).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("use_bidirectional_attention");
    }

    /** SmolLM3Config's derivation: every no_rope_layer_interval-th layer has no RoPE; those slide when asked. */
    @Test
    void smolLm3DerivesItsNoRopeLayersAndSlidesOnThemOnly() {
        ModelConfig plain = HfConfig.parse(config("SmolLM3ForCausalLM",
                ", \"no_rope_layer_interval\": 4, \"sliding_window\": 16"), null, "t");
        assertThat(plain.block().rotates()).containsExactly(true, true);
        assertThat(plain.block().slidingWindows()).containsExactly(0, 0);
        assertThat(plain.tiedEmbeddings()).isTrue();
        JsonObject eight = config("SmolLM3ForCausalLM", ", \"use_sliding_window\": true, \"sliding_window\": 16,"
                + " \"no_rope_layer_interval\": 4, \"attention_bias\": true, \"mlp_bias\": true");
        eight.addProperty("num_hidden_layers", 8);
        ModelConfig windowed = HfConfig.parse(eight, null, "t");
        assertThat(windowed.block().rotates()).containsExactly(true, true, true, false, true, true, true, false);
        assertThat(windowed.block().slidingWindows()).containsExactly(0, 0, 0, 16, 0, 0, 0, 16);
        assertThat(windowed.attentionBias()).isTrue();
        assertThat(windowed.block().mlpBias()).isTrue();
        JsonObject listed = config("SmolLM3ForCausalLM", ", \"no_rope_layers\": [0, 1]");
        assertThat(HfConfig.parse(listed, null, "t").block().rotates()).containsExactly(false, true);
        JsonObject wrong = config("SmolLM3ForCausalLM", ", \"no_rope_layers\": [1, 1, 0]");
        assertThatThrownBy(() -> HfConfig.parse(wrong, null, "t")).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("no_rope_layers has 3 entries for 2 layers");
        // every other family rotates on every layer
        assertThat(parse("qwen3").block().rotates()).doesNotContain(false);
    }

    /** Granite: attention_multiplier is the score scale itself; the other three multipliers are kept as given. */
    @Test
    void graniteTakesItsMultipliers() {
        ModelConfig c = HfConfig.parse(config("GraniteForCausalLM", ", \"embedding_multiplier\": 12.0,"
                + " \"attention_multiplier\": 0.015625, \"residual_multiplier\": 0.22, \"logits_scaling\": 8.0,"
                + " \"attention_bias\": true, \"mlp_bias\": true"), null, "g");
        assertThat(c.block().queryScale()).isEqualTo(0.015625);
        assertThat(c.block().multipliers()).isEqualTo(new BlockOptions.Multipliers(12.0, 0.22, 8.0));
        assertThat(c.attentionBias()).isTrue();
        assertThat(c.block().mlpBias()).isTrue();
        assertThat(c.tiedEmbeddings()).isFalse();
        ModelConfig defaults = HfConfig.parse(config("GraniteForCausalLM", ""), null, "g");
        assertThat(defaults.block().queryScale()).isEqualTo(1.0);
        assertThat(defaults.block().multipliers()).isEqualTo(BlockOptions.Multipliers.NONE);
        assertThat(parse("qwen3").block().multipliers()).isEqualTo(BlockOptions.Multipliers.NONE);
    }

    @Test
    void biasesFollowEachModelingFileNotJustTheConfig() {
        String both = ", \"attention_bias\": true, \"mlp_bias\": true, \"sliding_window\": 4";
        for (String arch : List.of("LlamaForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM")) {
            ModelConfig c = HfConfig.parse(config(arch, both), null, "t");
            assertThat(c.attentionBias()).as(arch).isTrue();
            assertThat(c.block().outputBias()).as(arch).isTrue();
            assertThat(c.block().mlpBias()).as(arch).isEqualTo(arch.equals("LlamaForCausalLM"));
        }
        // Mistral and Phi-3 build every projection without a bias, whatever their config says.
        for (String arch : List.of("MistralForCausalLM", "Phi3ForCausalLM")) {
            ModelConfig c = HfConfig.parse(config(arch, both), null, "t");
            assertThat(c.attentionBias()).as(arch).isFalse();
            assertThat(c.block().outputBias() || c.block().mlpBias()).as(arch).isFalse();
        }
        assertThat(HfConfig.parse(llama(""), null, "t").block().outputBias()).isFalse();
    }

    /**
     * As transformers 5.18's standardize_rope_params reads them: a top-level original_max_position_embeddings wins
     * over the RoPE dict's own (both config forms), the dict's own or max_position_embeddings otherwise.
     */
    @Test
    void aTopLevelOriginalContextWinsOverTheRopeDictsOwn() {
        String yarn = "{\"rope_type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 512";
        ModelConfig v5 = HfConfig.parse(llama(", \"original_max_position_embeddings\": 256, \"rope_parameters\": "
                + yarn + ", \"rope_theta\": 10000.0}"), null, "t");
        assertThat(v5.rope().originalMaxPositions()).isEqualTo(256);
        ModelConfig v4 = HfConfig.parse(config("Qwen2ForCausalLM", ", \"original_max_position_embeddings\": 256, "
                + "\"rope_scaling\": " + yarn + "}"), null, "t");
        assertThat(v4.rope().originalMaxPositions()).isEqualTo(256);
        ModelConfig own = HfConfig.parse(llama(", \"rope_scaling\": " + yarn + "}"), null, "t");
        assertThat(own.rope().originalMaxPositions()).isEqualTo(512);
        ModelConfig none = HfConfig.parse(llama(", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}"),
                null, "t");
        assertThat(none.rope().originalMaxPositions()).isEqualTo(2048);
    }

    /** Each config class's default RoPE base where config.json names none: SmolLM3Config's is 2,000,000. */
    @Test
    void aMissingRopeBaseIsTheFamilysDefault() {
        assertThat(HfConfig.parse(llama(""), null, "t").rope().theta()).isEqualTo(10000.0);
        assertThat(HfConfig.parse(config("SmolLM3ForCausalLM", ""), null, "t").rope().theta()).isEqualTo(2_000_000.0);
        assertThat(HfConfig.parse(config("SmolLM3ForCausalLM", ", \"rope_scaling\": {\"rope_type\": \"yarn\","
                + " \"factor\": 2.0}"), null, "t").rope().theta()).isEqualTo(2_000_000.0);
    }

    /**
     * What Gemma2Config and Phi3Config give for keys a config.json leaves out: query_pre_attn_scalar 256 (not
     * head_dim), soft-caps 50 and 30 (null: none), hidden_activation gelu-tanh whatever hidden_act says; Phi-3's
     * RMSNorm epsilon 1e-5; GPT-2's 1,024 positions.
     */
    @Test
    void leftOutGemma2Phi3AndGpt2KeysAreTheirConfigClassDefaults() {
        ModelConfig gemma2 = HfConfig.parse(config("Gemma2ForCausalLM", ", \"hidden_act\": \"silu\","
                + " \"sliding_window\": 8"), null, "t");
        assertThat(gemma2.block().queryScale()).isEqualTo(1.0 / 16);
        assertThat(gemma2.block().attnSoftcap()).isEqualTo(50.0);
        assertThat(gemma2.block().finalSoftcap()).isEqualTo(30.0);
        assertThat(gemma2.block().activation()).isEqualTo(BlockOptions.Activation.GELU_TANH);
        ModelConfig uncapped = HfConfig.parse(config("Gemma2ForCausalLM", ", \"attn_logit_softcapping\": null,"
                + " \"final_logit_softcapping\": null, \"hidden_activation\": \"gelu\", \"sliding_window\": 8"),
                null, "t");
        assertThat(uncapped.block().attnSoftcap()).isZero();
        assertThat(uncapped.block().finalSoftcap()).isZero();
        assertThat(uncapped.block().activation()).isEqualTo(BlockOptions.Activation.GELU);
        assertThat(HfConfig.parse(config("Phi3ForCausalLM", ""), null, "t").normEps()).isEqualTo(1e-5);
        assertThat(HfConfig.parse(llama(""), null, "t").normEps()).isEqualTo(1e-6);
        JsonObject gpt2 = JsonParser.parseString("{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 16,"
                + " \"n_head\": 4, \"n_layer\": 1, \"vocab_size\": 100}").getAsJsonObject();
        assertThat(HfConfig.parse(gpt2, null, "t").maxPositions()).isEqualTo(1024);
    }

    /** Gemma 3's attention never applies attn_logit_softcapping (transformers 5.18), Gemma 2's does. */
    @Test
    void onlyGemma2CapsItsAttentionScores() {
        String caps = ", \"attn_logit_softcapping\": 5.0, \"final_logit_softcapping\": 3.0, \"sliding_window\": 8";
        ModelConfig gemma2 = HfConfig.parse(config("Gemma2ForCausalLM", caps), null, "t");
        assertThat(gemma2.block().attnSoftcap()).isEqualTo(5.0);
        assertThat(gemma2.block().finalSoftcap()).isEqualTo(3.0);
        ModelConfig gemma3 = HfConfig.parse(config("Gemma3ForCausalLM", caps), null, "t");
        assertThat(gemma3.block().attnSoftcap()).isZero();
        assertThat(gemma3.block().finalSoftcap()).isEqualTo(3.0);
    }

    /** As transformers 5.18 loads them: model.generation_config.eos_token_id is generation_config.json's. */
    @Test
    void takesEosFromGenerationConfigBeforeConfig() {
        JsonObject gen = JsonParser.parseString("{\"eos_token_id\": [7, 9]}").getAsJsonObject();
        assertThat(HfConfig.parse(llama(""), gen, "t").eosIds()).containsExactly(7, 9);
        // Gemma 2's released chat model: config.json 1, generation_config.json [1, 107] (<end_of_turn>)
        assertThat(HfConfig.parse(llama(", \"eos_token_id\": 5"), gen, "t").eosIds()).containsExactly(7, 9);
        JsonObject none = JsonParser.parseString("{\"bos_token_id\": 1}").getAsJsonObject();
        assertThat(HfConfig.parse(llama(", \"eos_token_id\": 5"), none, "t").eosIds()).isEqualTo(List.of(5));
    }

    @Test
    void refusesAnUnsupportedArchitectureInOneLineNamingTheSupportedOnes() {
        JsonObject cfg = llama("").deepCopy();
        cfg.add("architectures", JsonParser.parseString("[\"FalconForCausalLM\"]"));
        assertThatThrownBy(() -> HfConfig.parse(cfg, null, "dir/config.json"))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("dir/config.json: unsupported architecture 'FalconForCausalLM' (supported: "
                        + "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GemmaForCausalLM,"
                        + " Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3ForConditionalGeneration,"
                        + " Phi3ForCausalLM, SmolLM3ForCausalLM, GraniteForCausalLM, GPT2LMHeadModel); set reft.model.path to a checkpoint of a supported"
                        + " kind");
    }

    @Test
    void refusesAnUnsupportedRopeTypeInEitherForm() {
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"rope_scaling\": {\"rope_type\": \"proportional\","
                + " \"factor\": 4}"), null, "c")).isInstanceOf(CheckpointException.class)
                .hasMessage("c: unsupported rope_scaling rope_type 'proportional' (supported: default, linear,"
                        + " dynamic, llama3, yarn, longrope); set reft.model.path to a checkpoint of a supported kind");
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"rope_parameters\": {\"rope_type\": \"mrope\"}"),
                null, "c")).hasMessageStartingWith("c: unsupported rope_parameters rope_type 'mrope'");
    }

    @Test
    void refusesARopeSettingThatIsNotAnObject() {
        for (String bad : List.of(", \"rope_scaling\": [\"linear\", 2.0]", ", \"rope_parameters\": \"default\"")) {
            assertThatThrownBy(() -> HfConfig.parse(llama(bad), null, "t")).isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("is not an object");
        }
        assertThat(HfConfig.parse(llama(", \"rope_scaling\": null"), null, "t").rope().type())
                .isEqualTo(Rope.Type.DEFAULT);
    }

    @Test
    void refusesAnUnsupportedActivation() {
        assertThatThrownBy(() -> HfConfig.parse(llama(", \"hidden_act\": \"mish\""), null, "c"))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("c: unsupported hidden_act 'mish' (supported: silu, gelu_pytorch_tanh, gelu_new, gelu,"
                        + " relu); set reft.model.path to a checkpoint of a supported kind");
        assertThat(HfConfig.parse(llama(", \"hidden_act\": \"relu\""), null, "c").block().activation())
                .isEqualTo(BlockOptions.Activation.RELU);
        assertThat(HfConfig.parse(config("Qwen2ForCausalLM", ", \"hidden_act\": \"gelu\""), null, "c").block()
                .activation()).isEqualTo(BlockOptions.Activation.GELU);
        JsonObject gpt2 = JsonParser.parseString("{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 16,"
                + " \"n_head\": 4, \"n_layer\": 1, \"n_positions\": 64, \"vocab_size\": 100,"
                + " \"activation_function\": \"gelu_pytorch_tanh\"}").getAsJsonObject();
        assertThat(HfConfig.parse(gpt2, null, "c").block().activation()).isEqualTo(BlockOptions.Activation.GELU_TANH);
    }
}

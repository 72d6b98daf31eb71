package dev.reftserver.model.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.BlockOptions.Activation;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.ModelConfig.Architecture;
import dev.reftserver.model.Rope;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A Hugging Face {@code config.json} (with {@code generation_config.json}'s EOS ids) as a {@link ModelConfig}, in
 * both forms checkpoints carry: transformers 4.x (top-level {@code rope_theta}, {@code rope_scaling}) and 5.x
 * ({@code rope_parameters}). Whatever this runtime cannot compute fails here, at start, with one line naming what
 * is supported.
 */
public final class HfConfig {

    /** The {@code architectures} this runtime loads. */
    public static final List<String> SUPPORTED = List.of("LlamaForCausalLM", "MistralForCausalLM",
            "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM",
            "Gemma3ForConditionalGeneration", "Phi3ForCausalLM", "SmolLM3ForCausalLM", "GraniteForCausalLM",
            "GPT2LMHeadModel");

    /** The most values one RoPE table (cos or sin: positions x head_dim floats) may hold: 1 GiB. */
    static final long MAX_ROPE_TABLE_VALUES = 1L << 28;
    static final String PATH_HINT = "; set reft.model.path to a checkpoint of a supported kind";
    static final String SMOLLM3 = "SmolLM3ForCausalLM";
    private static final String GRANITE = "GraniteForCausalLM";

    private HfConfig() {
    }

    /** The first entry of {@code architectures}. */
    static String architectureName(JsonObject cfg, String where) {
        if (cfg.has("architectures") && cfg.get("architectures").isJsonArray()
                && cfg.getAsJsonArray("architectures").size() > 0) {
            return cfg.getAsJsonArray("architectures").get(0).getAsString();
        }
        throw new CheckpointException(where + ": missing key 'architectures'");
    }

    /**
     * @param generation {@code generation_config.json}, or null: its {@code eos_token_id} comes before
     *                   config.json's, as in transformers' {@code generate}
     */
    public static ModelConfig parse(JsonObject cfg, JsonObject generation, String where) {
        String arch = architectureName(cfg, where);
        if (Gemma3Text.applies(arch)) {
            // the multimodal form's text model, every omitted key at Gemma3TextConfig's default
            cfg = Gemma3Text.config(cfg, where);
            arch = RopeConfig.GEMMA3;
        }
        // generate() stops at generation_config.json's EOS ids (e.g. Gemma 2's [1, 107] where config.json has 1)
        List<Integer> eos = generation != null ? tokenIds(generation, "eos_token_id") : List.of();
        if (eos.isEmpty()) {
            eos = tokenIds(cfg, "eos_token_id");
        }
        return switch (arch) {
            case "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                    "GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM",
                    SMOLLM3, GRANITE -> llamaFamily(cfg, where, arch, eos);
            case "GPT2LMHeadModel" -> gpt2(cfg, where, eos);
            default -> throw new CheckpointException(where + ": unsupported architecture '" + arch
                    + "' (supported: " + String.join(", ", SUPPORTED) + ")" + PATH_HINT);
        };
    }

    private static ModelConfig llamaFamily(JsonObject c, String where, String arch, List<Integer> eos) {
        boolean gemma3 = arch.equals(RopeConfig.GEMMA3);
        // Gemma 2 and 3 share the norms around attention and MLP, query_pre_attn_scalar and the soft-caps.
        boolean sandwich = arch.equals("Gemma2ForCausalLM") || gemma3;
        boolean gemma = sandwich || arch.equals("GemmaForCausalLM");
        int hidden = requireInt(c, "hidden_size", where);
        int heads = requireInt(c, "num_attention_heads", where);
        int layers = requireInt(c, "num_hidden_layers", where);
        // Keys config.json leaves out take the family's config class defaults, as transformers reads them.
        int kvHeads = intOr(c, "num_key_value_heads", switch (arch) {
            case "MistralForCausalLM" -> 8;
            case "Qwen2ForCausalLM", "Qwen3ForCausalLM" -> 32;
            case "GemmaForCausalLM" -> 16;
            case "Gemma2ForCausalLM", RopeConfig.GEMMA3, SMOLLM3 -> 4;
            default -> heads;
        });
        // Phi-3 always derives head_dim from the width; the others take an explicit one when given.
        int headDim = arch.equals("Phi3ForCausalLM") ? hidden / heads : intOr(c, "head_dim", switch (arch) {
            case "Qwen3ForCausalLM" -> 128;
            case "GemmaForCausalLM", "Gemma2ForCausalLM", RopeConfig.GEMMA3 -> 256;
            default -> hidden / heads;
        });
        if (heads % kvHeads != 0) {
            throw new CheckpointException(where + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int configured = requireInt(c, "max_position_embeddings", where);
        // The RoPE tables hold cos and sin for every position (longrope: twice): refuse a context they cannot hold.
        long mostPositions = MAX_ROPE_TABLE_VALUES / Math.max(1, headDim);
        if (configured < 1 || configured > mostPositions) {
            throw new CheckpointException(where + ": max_position_embeddings " + configured + " is outside 1 to "
                    + mostPositions + " (the positions whose RoPE tables of head_dim " + headDim + " fit in "
                    + MAX_ROPE_TABLE_VALUES + " values)");
        }
        Rope rope = RopeConfig.rope(c, where, arch, configured);
        // Yarn extends a model past the context it was trained on, and its frequencies do not depend on the
        // sequence: the context is original x factor where that is longer (Qwen2.5's 32,768 x 4), as vLLM derives,
        // up to what the tables hold.
        int maxPositions = rope.type() == Rope.Type.YARN
                ? (int) Math.max(configured, Math.min(mostPositions,
                        Math.floor(rope.originalMaxPositions() * rope.factor())))
                : configured;
        double partial = RopeConfig.partialRotary(c, arch, where, rope.type());
        if (partial != 1.0) {
            int rotary = rope.withPartialRotary(partial).rotaryDim(headDim);
            if (rotary < 2 || rotary % 2 != 0 || partial > 1.0) {
                throw new CheckpointException(where + ": partial_rotary_factor " + partial + " of head_dim "
                        + headDim + " gives " + rotary + " rotating channels (it must be a positive even number)");
            }
            rope = rope.withPartialRotary(partial);
        }
        if (rope.type() == Rope.Type.LONGROPE) {
            int half = rope.rotaryDim(headDim) / 2;
            if (rope.shortFactor().size() != half || rope.longFactor().size() != half) {
                throw new CheckpointException(where + ": longrope short_factor and long_factor need " + half
                        + " entries each (one per rotating frequency), not " + rope.shortFactor().size() + " and "
                        + rope.longFactor().size());
            }
        }
        // Gemma 2 and 3 read hidden_activation only (a hidden_act beside it is ignored, as transformers ignores it)
        String actKey = sandwich ? "hidden_activation" : "hidden_act";
        String actName = c.has(actKey) && !c.get(actKey).isJsonNull() ? c.get(actKey).getAsString()
                : gemma ? "gelu_pytorch_tanh" : "silu";
        // GemmaConfig reads its released configs' "gelu" as the tanh approximation they were trained with.
        Activation act = activation(gemma && !sandwich && actName.equals("gelu") ? "gelu_pytorch_tanh" : actName,
                actKey, where);
        boolean granite = arch.equals(GRANITE);
        // Granite scales the scores by attention_multiplier itself (1 by default), not by 1/sqrt(head_dim).
        double queryScale = sandwich
                ? 1.0 / Math.sqrt(doubleOr(c, "query_pre_attn_scalar", 256))
                : granite ? doubleOr(c, "attention_multiplier", 1.0) : 1.0 / Math.sqrt(headDim);
        BlockOptions.Multipliers multipliers = granite ? new BlockOptions.Multipliers(
                doubleOr(c, "embedding_multiplier", 1.0), doubleOr(c, "residual_multiplier", 1.0),
                doubleOr(c, "logits_scaling", 1.0)) : BlockOptions.Multipliers.NONE;
        // Biases as each modeling file builds its Linear layers: Llama, SmolLM3, Granite, Qwen3 and Gemma 1 to 3 give
        // q, k, v and o one with attention_bias; Qwen2 always gives q, k and v one and o none; Llama's, SmolLM3's and
        // Granite's MLP have them with mlp_bias; Mistral and Phi-3 have none, whatever the config says.
        boolean attentionBias = List.of("LlamaForCausalLM", SMOLLM3, GRANITE, "Qwen3ForCausalLM", "GemmaForCausalLM",
                "Gemma2ForCausalLM", "Gemma3ForCausalLM").contains(arch)
                && bool(c, "attention_bias", false);
        boolean mlpBias = List.of("LlamaForCausalLM", SMOLLM3, GRANITE).contains(arch) && bool(c, "mlp_bias", false);
        List<Boolean> rotates = LayerTypes.rotating(c, arch, layers, where);
        BlockOptions block = new BlockOptions(queryScale, arch.equals("Qwen3ForCausalLM") || gemma3, gemma,
                // Gemma 3's attention reads attn_logit_softcapping but never applies it (transformers 5.18);
                // Gemma2Config's caps are 50 and 30 where config.json leaves them out, none where it says null
                gemma3 ? 0 : sandwich ? cap(c, "attn_logit_softcapping", 50.0) : 0,
                sandwich ? cap(c, "final_logit_softcapping", gemma3 ? 0 : 30.0) : 0, act,
                LayerTypes.sliding(c, arch, layers, rotates, where), attentionBias, mlpBias, sandwich,
                RopeConfig.slidingRope(c, where, arch, maxPositions), rotates, multipliers, false);
        boolean bias = arch.equals("Qwen2ForCausalLM") || attentionBias;
        return new ModelConfig(Architecture.LLAMA, requireInt(c, "vocab_size", where), hidden,
                requireInt(c, "intermediate_size", where), layers, heads, kvHeads, headDim, maxPositions, rope,
                doubleOr(c, "rms_norm_eps", arch.equals("Phi3ForCausalLM") ? 1e-5 : 1e-6),
                bool(c, "tie_word_embeddings", gemma || arch.equals(SMOLLM3)), bias,
                first(tokenIds(c, "bos_token_id")), eos, block);
    }

    private static Activation activation(String name, String key, String where) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "silu", "swish" -> Activation.SILU;
            case "gelu_pytorch_tanh", "gelu_tanh", "gelu_new" -> Activation.GELU_TANH;
            case "gelu" -> Activation.GELU;
            case "relu" -> Activation.RELU;
            default -> throw new CheckpointException(where + ": unsupported " + key + " '" + name
                    + "' (supported: silu, gelu_pytorch_tanh, gelu_new, gelu, relu)" + PATH_HINT);
        };
    }

    private static ModelConfig gpt2(JsonObject c, String where, List<Integer> eos) {
        int hidden = requireInt(c, "n_embd", where);
        int heads = requireInt(c, "n_head", where);
        String actName = c.has("activation_function") ? c.get("activation_function").getAsString() : "gelu_new";
        Activation act = activation(actName, "activation_function", where);
        int layers = requireInt(c, "n_layer", where);
        int inner = intOr(c, "n_inner", 4 * hidden);
        return new ModelConfig(Architecture.GPT2, requireInt(c, "vocab_size", where), hidden, inner, layers, heads,
                heads, hidden / heads, intOr(c, "n_positions", 1024), Rope.plain(0),
                doubleOr(c, "layer_norm_epsilon", 1e-5), bool(c, "tie_word_embeddings", true), true,
                first(tokenIds(c, "bos_token_id")), eos, BlockOptions.gpt2(layers, hidden / heads,
                        bool(c, "scale_attn_weights", true), bool(c, "scale_attn_by_inverse_layer_idx", false), act));
    }

    private static int requireInt(JsonObject c, String key, String where) {
        JsonElement e = c.get(key);
        if (e == null || e.isJsonNull()) {
            throw new CheckpointException(where + ": missing key '" + key + "'");
        }
        try {
            return e.getAsInt();
        } catch (RuntimeException ex) {
            throw new CheckpointException(where + ": key '" + key + "' is not an integer: " + e);
        }
    }

    static double requireDouble(JsonObject p, String field, String key, String where) {
        JsonElement e = p.get(field);
        if (e == null || e.isJsonNull()) {
            throw new CheckpointException(where + ": " + key + " lacks '" + field + "'");
        }
        return e.getAsDouble();
    }

    static int intOr(JsonObject c, String key, int dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsInt() : dflt;
    }

    /** A soft-cap: {@code dflt} where config.json leaves the key out, 0 (none) where it is null. */
    private static double cap(JsonObject c, String key, double dflt) {
        return !c.has(key) ? dflt : doubleOr(c, key, 0);
    }

    static double doubleOr(JsonObject c, String key, double dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsDouble() : dflt;
    }

    static boolean bool(JsonObject c, String key, boolean dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsBoolean() : dflt;
    }

    private static int first(List<Integer> ids) {
        return ids.isEmpty() ? -1 : ids.get(0);
    }

    /** bos/eos ids may be an int, a list or absent. */
    private static List<Integer> tokenIds(JsonObject c, String key) {
        JsonElement e = c.get(key);
        if (e == null || e.isJsonNull()) {
            return List.of();
        }
        List<Integer> out = new ArrayList<>();
        if (e.isJsonArray()) {
            e.getAsJsonArray().forEach(x -> out.add(x.getAsInt()));
        } else {
            out.add(e.getAsInt());
        }
        return out;
    }
}

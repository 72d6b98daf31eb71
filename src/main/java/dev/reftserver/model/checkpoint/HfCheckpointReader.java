package dev.reftserver.model.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.ModelConfig.Architecture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Reads a Hugging Face model directory: {@code config.json} plus {@code model.safetensors}, or shards listed in
 * {@code model.safetensors.index.json}. Supports LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and
 * GPT2LMHeadModel; anything else fails with a message naming the architecture.
 */
public final class HfCheckpointReader {

    private HfCheckpointReader() {
    }

    public static Checkpoint read(Path dir) {
        Path configPath = dir.resolve("config.json");
        if (!Files.isRegularFile(configPath)) {
            throw new CheckpointException(dir + ": no config.json (expected a Hugging Face model directory)");
        }
        JsonObject cfg;
        try {
            cfg = JsonParser.parseString(Files.readString(configPath)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(configPath + ": not valid JSON: " + e.getMessage(), e);
        }
        ModelConfig config = parseConfig(cfg, configPath.toString());
        Map<String, TensorData> tensors = readTensors(dir);
        if (config.architecture() == Architecture.GPT2) {
            tensors = withGpt2Prefix(tensors);
        }
        return new Checkpoint(config, tensors, dir.toString());
    }

    static ModelConfig parseConfig(JsonObject cfg, String where) {
        String arch = cfg.has("architectures") && cfg.getAsJsonArray("architectures").size() > 0
                ? cfg.getAsJsonArray("architectures").get(0).getAsString()
                : null;
        if (arch == null) {
            throw new CheckpointException(where + ": missing key 'architectures'");
        }
        return switch (arch) {
            case "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM" -> llamaFamily(cfg, where, arch);
            case "GPT2LMHeadModel" -> gpt2(cfg, where);
            default -> throw new CheckpointException(where + ": unsupported architecture '" + arch
                    + "' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel)");
        };
    }

    private static ModelConfig llamaFamily(JsonObject c, String where, String arch) {
        int hidden = requireInt(c, "hidden_size", where);
        int heads = requireInt(c, "num_attention_heads", where);
        int kvHeads = c.has("num_key_value_heads") && !c.get("num_key_value_heads").isJsonNull()
                ? c.get("num_key_value_heads").getAsInt() : heads;
        int headDim = c.has("head_dim") && !c.get("head_dim").isJsonNull()
                ? c.get("head_dim").getAsInt() : hidden / heads;
        if (heads % kvHeads != 0) {
            throw new CheckpointException(where + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        double theta = 10000.0;
        if (c.has("rope_theta") && !c.get("rope_theta").isJsonNull()) {
            theta = c.get("rope_theta").getAsDouble();
        } else if (c.has("rope_parameters") && c.get("rope_parameters").isJsonObject()
                && c.getAsJsonObject("rope_parameters").has("rope_theta")) {
            theta = c.getAsJsonObject("rope_parameters").get("rope_theta").getAsDouble();
        }
        JsonObject scaling = c.has("rope_scaling") && c.get("rope_scaling").isJsonObject()
                ? c.getAsJsonObject("rope_scaling") : null;
        if (scaling != null && scaling.has("rope_type") && !"default".equals(scaling.get("rope_type").getAsString())) {
            throw new CheckpointException(where + ": unsupported rope_scaling type '"
                    + scaling.get("rope_type").getAsString() + "'");
        }
        String act = c.has("hidden_act") ? c.get("hidden_act").getAsString() : "silu";
        if (!act.equals("silu")) {
            throw new CheckpointException(where + ": unsupported hidden_act '" + act + "' (only silu)");
        }
        boolean bias = arch.equals("Qwen2ForCausalLM")
                || (c.has("attention_bias") && c.get("attention_bias").getAsBoolean());
        return new ModelConfig(Architecture.LLAMA,
                requireInt(c, "vocab_size", where), hidden, requireInt(c, "intermediate_size", where),
                requireInt(c, "num_hidden_layers", where), heads, kvHeads, headDim,
                requireInt(c, "max_position_embeddings", where), theta,
                c.has("rms_norm_eps") ? c.get("rms_norm_eps").getAsDouble() : 1e-6,
                bool(c, "tie_word_embeddings", false), bias, tokenId(c, "bos_token_id"), tokenId(c, "eos_token_id"));
    }

    private static ModelConfig gpt2(JsonObject c, String where) {
        int hidden = requireInt(c, "n_embd", where);
        int heads = requireInt(c, "n_head", where);
        String act = c.has("activation_function") ? c.get("activation_function").getAsString() : "gelu_new";
        if (!act.equals("gelu_new")) {
            throw new CheckpointException(where + ": unsupported activation_function '" + act + "' (only gelu_new)");
        }
        int inner = c.has("n_inner") && !c.get("n_inner").isJsonNull() ? c.get("n_inner").getAsInt() : 4 * hidden;
        return new ModelConfig(Architecture.GPT2, requireInt(c, "vocab_size", where), hidden, inner,
                requireInt(c, "n_layer", where), heads, heads, hidden / heads, requireInt(c, "n_positions", where),
                0.0, c.has("layer_norm_epsilon") ? c.get("layer_norm_epsilon").getAsDouble() : 1e-5,
                bool(c, "tie_word_embeddings", true), true, tokenId(c, "bos_token_id"), tokenId(c, "eos_token_id"));
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

    private static boolean bool(JsonObject c, String key, boolean dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsBoolean() : dflt;
    }

    /** bos/eos ids may be an int, a list (first one wins) or absent (-1). */
    private static int tokenId(JsonObject c, String key) {
        JsonElement e = c.get(key);
        if (e == null || e.isJsonNull()) {
            return -1;
        }
        if (e.isJsonArray()) {
            return e.getAsJsonArray().isEmpty() ? -1 : e.getAsJsonArray().get(0).getAsInt();
        }
        return e.getAsInt();
    }

    private static Map<String, TensorData> readTensors(Path dir) {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, TensorData> out = new LinkedHashMap<>();
        if (Files.isRegularFile(single)) {
            Safetensors st = Safetensors.open(single);
            for (String n : st.names()) {
                out.put(n, st.read(n));
            }
        } else if (Files.isRegularFile(index)) {
            JsonObject map;
            try {
                map = JsonParser.parseString(Files.readString(index)).getAsJsonObject().getAsJsonObject("weight_map");
            } catch (IOException | RuntimeException e) {
                throw new CheckpointException(index + ": not a valid safetensors index: " + e.getMessage(), e);
            }
            if (map == null) {
                throw new CheckpointException(index + ": missing key 'weight_map'");
            }
            Map<String, Safetensors> shards = new LinkedHashMap<>();
            for (String shard : new TreeSet<>(map.entrySet().stream().map(e -> e.getValue().getAsString()).toList())) {
                Path p = dir.resolve(shard).normalize();
                if (!p.startsWith(dir.normalize()) || !Files.isRegularFile(p)) {
                    throw new CheckpointException(index + ": shard '" + shard + "' is missing");
                }
                shards.put(shard, Safetensors.open(p));
            }
            for (var e : map.entrySet()) {
                Safetensors st = shards.get(e.getValue().getAsString());
                if (!st.has(e.getKey())) {
                    throw new CheckpointException(index + ": tensor '" + e.getKey() + "' is not in shard '"
                            + e.getValue().getAsString() + "'");
                }
                out.put(e.getKey(), st.read(e.getKey()));
            }
        } else {
            throw new CheckpointException(dir + ": neither model.safetensors nor model.safetensors.index.json");
        }
        return out;
    }

    /** GPT-2 checkpoints come with and without the {@code transformer.} prefix; normalise to with. */
    private static Map<String, TensorData> withGpt2Prefix(Map<String, TensorData> in) {
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (var e : in.entrySet()) {
            String name = e.getKey();
            if (!name.startsWith("transformer.") && !name.startsWith("lm_head.")) {
                name = "transformer." + name;
            }
            out.put(name, new TensorData(name, e.getValue().shape(), e.getValue().data()));
        }
        return out;
    }
}

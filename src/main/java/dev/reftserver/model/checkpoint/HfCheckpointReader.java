package dev.reftserver.model.checkpoint;

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
 * {@code model.safetensors.index.json}, with the configuration {@link HfConfig} reads.
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
        ModelConfig config;
        try {
            config = HfConfig.parse(cfg, readOptional(dir.resolve("generation_config.json")), configPath.toString());
        } catch (CheckpointException e) {
            throw e;
        } catch (RuntimeException e) {
            // A value of another JSON type than the key's (a string for a number, an object for a list): one line,
            // not a stack, like every other refusal at start.
            throw new CheckpointException(configPath + ": a value has the wrong type (" + e.getMessage() + ")", e);
        }
        Map<String, LazyTensor> tensors = readTensors(dir);
        if (config.architecture() == Architecture.GPT2) {
            tensors = withGpt2Prefix(tensors);
        }
        String arch = HfConfig.architectureName(cfg, configPath.toString());
        if (arch.equals("Phi3ForCausalLM")) {
            tensors = Phi3Weights.unfuse(tensors, config);
        } else if (arch.equals(Gemma3Text.MULTIMODAL)) {
            tensors = Gemma3Text.weights(tensors, dir.toString());
        }
        return new Checkpoint(config, tensors, dir.toString());
    }

    /** A JSON file beside config.json, or null when absent or unreadable (it only adds defaults). */
    private static JsonObject readOptional(Path path) {
        if (!Files.isRegularFile(path)) {
            return null;
        }
        try {
            return JsonParser.parseString(Files.readString(path)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(path + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    private static Map<String, LazyTensor> readTensors(Path dir) {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, LazyTensor> out = new LinkedHashMap<>();
        if (Files.isRegularFile(single)) {
            Safetensors st = Safetensors.open(single);
            for (String n : st.names()) {
                out.put(n, lazy(st, n));
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
                out.put(e.getKey(), lazy(st, e.getKey()));
            }
        } else {
            throw new CheckpointException(dir + ": neither model.safetensors nor model.safetensors.index.json");
        }
        return out;
    }

    private static LazyTensor lazy(Safetensors st, String name) {
        return new LazyTensor(name, st.shape(name), () -> st.read(name).data(), m -> st.readStored(name, m),
                () -> st.rows(name), () -> st.mappedBfloat16(name));
    }

    /** GPT-2 checkpoints come with and without the {@code transformer.} prefix; normalise to with. */
    private static Map<String, LazyTensor> withGpt2Prefix(Map<String, LazyTensor> in) {
        Map<String, LazyTensor> out = new LinkedHashMap<>();
        for (var e : in.entrySet()) {
            String name = e.getKey();
            if (!name.startsWith("transformer.") && !name.startsWith("lm_head.")) {
                name = "transformer." + name;
            }
            out.put(name, e.getValue().named(name));
        }
        return out;
    }
}

package dev.reftserver.model.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;

/** Per-layer attention kinds of the Llama family, as each family's config class derives them. */
final class LayerTypes {

    private LayerTypes() {
    }

    /**
     * Which layers slide, as each family's config class derives {@code layer_types}: an explicit
     * {@code layer_types} wins; Gemma 2 slides on even layers; Mistral and Phi-3 on every layer when
     * {@code sliding_window} is set; Qwen2/3 on layers from {@code max_window_layers} when
     * {@code use_sliding_window} is true; SmolLM3 on its NoPE layers when {@code use_sliding_window} is true and a
     * window is set; Llama never.
     */
    static List<Integer> sliding(JsonObject c, String arch, int layers, List<Boolean> rotates, String where) {
        int window = window(c, arch, where);
        List<Integer> out = new ArrayList<>(layers);
        if (c.has("layer_types") && c.get("layer_types").isJsonArray()) {
            var types = c.getAsJsonArray("layer_types");
            if (types.size() != layers) {
                throw new CheckpointException(where + ": layer_types has " + types.size() + " entries for "
                        + layers + " layers");
            }
            for (JsonElement t : types) {
                switch (t.getAsString()) {
                    case "full_attention" -> out.add(0);
                    case "sliding_attention" -> out.add(window);
                    default -> throw new CheckpointException(where + ": unsupported layer type '" + t.getAsString()
                            + "' (supported: full_attention, sliding_attention)" + HfConfig.PATH_HINT);
                }
            }
            return out;
        }
        for (int l = 0; l < layers; l++) {
            boolean slides = switch (arch) {
                case "Gemma2ForCausalLM" -> l % 2 == 0;
                // Gemma 3: five local layers, then a global one (sliding_window_pattern)
                case "Gemma3ForCausalLM" ->
                        (l + 1) % Math.max(1, HfConfig.intOr(c, "sliding_window_pattern", 6)) != 0;
                case "MistralForCausalLM", "Phi3ForCausalLM" -> window > 0;
                case "Qwen2ForCausalLM", "Qwen3ForCausalLM" -> HfConfig.bool(c, "use_sliding_window", false)
                        && window > 0 && l >= HfConfig.intOr(c, "max_window_layers", 0);
                case HfConfig.SMOLLM3 ->
                        HfConfig.bool(c, "use_sliding_window", false) && window > 0 && !rotates.get(l);
                default -> false;
            };
            out.add(slides ? window : 0);
        }
        return out;
    }

    /**
     * Which layers apply RoPE: all, but SmolLM3's NoPE layers ({@code no_rope_layers}, 1 where a layer rotates; by
     * default every {@code no_rope_layer_interval}-th layer, 4, does not).
     */
    static List<Boolean> rotating(JsonObject c, String arch, int layers, String where) {
        List<Boolean> out = new ArrayList<>(layers);
        if (!arch.equals(HfConfig.SMOLLM3)) {
            for (int l = 0; l < layers; l++) {
                out.add(true);
            }
            return out;
        }
        if (c.has("no_rope_layers") && c.get("no_rope_layers").isJsonArray()) {
            var flags = c.getAsJsonArray("no_rope_layers");
            if (flags.size() != layers) {
                throw new CheckpointException(where + ": no_rope_layers has " + flags.size() + " entries for "
                        + layers + " layers");
            }
            flags.forEach(f -> out.add(f.getAsInt() != 0));
            return out;
        }
        int interval = HfConfig.intOr(c, "no_rope_layer_interval", 4);
        if (interval < 1) {
            throw new CheckpointException(where + ": no_rope_layer_interval " + interval + " is not positive");
        }
        for (int l = 0; l < layers; l++) {
            out.add((l + 1) % interval != 0);
        }
        return out;
    }

    /**
     * The sliding window as transformers' config classes read it: the class's default where config.json has no
     * {@code sliding_window} (4,096 for Mistral, Qwen2, Qwen3, Gemma 2 and 3; none for the others), none (0: every
     * layer attends to everything, whatever its type says) where it is null; a number that is not positive is
     * refused.
     */
    private static int window(JsonObject c, String arch, String where) {
        if (!c.has("sliding_window")) {
            return switch (arch) {
                case "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Gemma2ForCausalLM",
                        "Gemma3ForCausalLM" -> 4096;
                default -> 0;
            };
        }
        if (c.get("sliding_window").isJsonNull()) {
            return 0;
        }
        int window = HfConfig.intOr(c, "sliding_window", 0);
        if (window <= 0) {
            throw new CheckpointException(where + ": sliding_window " + window + " is not a positive number");
        }
        return window;
    }
}

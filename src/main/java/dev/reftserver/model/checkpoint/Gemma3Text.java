package dev.reftserver.model.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gemma 3's text model as its released checkpoints carry it. The larger Gemma 3 models (4B and up) are
 * {@code Gemma3ForConditionalGeneration}: a SigLIP vision tower and a projector beside the text model, whose
 * {@code text_config} names only what differs from {@code Gemma3TextConfig}'s defaults and whose weights sit under
 * {@code language_model}. This runtime serves text, so it reads the text model alone, as transformers computes it
 * for prompts without images; the vision weights are left unread.
 */
final class Gemma3Text {

    static final String MULTIMODAL = "Gemma3ForConditionalGeneration";

    private static final Logger LOG = LoggerFactory.getLogger(Gemma3Text.class);

    /** {@code Gemma3TextConfig}'s defaults in transformers, which released configs rely on for what they omit. */
    private static final Map<String, JsonPrimitive> DEFAULTS = Map.ofEntries(
            Map.entry("vocab_size", new JsonPrimitive(262_208)),
            Map.entry("hidden_size", new JsonPrimitive(2304)),
            Map.entry("intermediate_size", new JsonPrimitive(9216)),
            Map.entry("num_hidden_layers", new JsonPrimitive(26)),
            Map.entry("num_attention_heads", new JsonPrimitive(8)),
            Map.entry("num_key_value_heads", new JsonPrimitive(4)),
            Map.entry("head_dim", new JsonPrimitive(256)),
            Map.entry("hidden_activation", new JsonPrimitive("gelu_pytorch_tanh")),
            Map.entry("max_position_embeddings", new JsonPrimitive(131_072)),
            Map.entry("rms_norm_eps", new JsonPrimitive(1e-6)),
            Map.entry("bos_token_id", new JsonPrimitive(2)),
            Map.entry("tie_word_embeddings", new JsonPrimitive(true)),
            Map.entry("query_pre_attn_scalar", new JsonPrimitive(256)),
            Map.entry("sliding_window", new JsonPrimitive(4096)));

    /** Gemma3TextConfig's default EOS id (generation_config.json's come first, see {@link HfConfig#parse}). */
    private static final int DEFAULT_EOS = 1;

    /** The prefixes of the vision tower's and the projector's tensors, in either naming. */
    private static final List<String> VISION = List.of("vision_tower.", "multi_modal_projector.",
            "model.vision_tower.", "model.multi_modal_projector.");

    /** Text prefixes in either naming, and what a Gemma3ForCausalLM calls them. */
    private static final List<String[]> TEXT = List.of(new String[] {"language_model.model.", "model."},
            new String[] {"model.language_model.", "model."}, new String[] {"language_model.lm_head.", "lm_head."});

    private Gemma3Text() {
    }

    static boolean applies(String architecture) {
        return architecture.equals(MULTIMODAL) || architecture.equals(RopeConfig.GEMMA3);
    }

    /**
     * The text model's configuration as a complete {@code Gemma3ForCausalLM} config.json: the multimodal form's
     * {@code text_config} (its top-level {@code eos_token_id} and {@code tie_word_embeddings} win, as they do in
     * transformers), every key it omits at {@code Gemma3TextConfig}'s default.
     */
    static JsonObject config(JsonObject cfg, String where) {
        JsonObject text;
        if (HfConfig.architectureName(cfg, where).equals(MULTIMODAL)) {
            JsonElement nested = cfg.get("text_config");
            if (nested != null && !nested.isJsonNull() && !nested.isJsonObject()) {
                throw new CheckpointException(where + ": text_config is not an object");
            }
            text = nested == null || nested.isJsonNull() ? new JsonObject() : nested.getAsJsonObject().deepCopy();
            for (String key : List.of("eos_token_id", "tie_word_embeddings")) {
                if (cfg.has(key) && !cfg.get(key).isJsonNull()) {
                    text.add(key, cfg.get(key).deepCopy());
                }
            }
            if (!cfg.has("tie_word_embeddings")) {
                text.addProperty("tie_word_embeddings", true); // Gemma3Config's own default
            }
            // Gemma3ForConditionalGeneration's forward never applies the text model's final soft-cap
            // (transformers 5.18; released configs leave it null)
            text.remove("final_logit_softcapping");
        } else {
            text = cfg.deepCopy();
        }
        JsonArray arch = new JsonArray();
        arch.add(RopeConfig.GEMMA3);
        text.add("architectures", arch);
        DEFAULTS.forEach((key, value) -> {
            // a null sliding_window is no window at all, not the default one
            if (!text.has(key) || (text.get(key).isJsonNull() && !key.equals("sliding_window"))) {
                text.add(key, value);
            }
        });
        if (!text.has("eos_token_id") || text.get("eos_token_id").isJsonNull()) {
            text.addProperty("eos_token_id", DEFAULT_EOS);
        }
        if (HfConfig.bool(text, "use_bidirectional_attention", false)) {
            throw new CheckpointException(where + ": use_bidirectional_attention is true (an encoder such as"
                    + " EmbeddingGemma); this runtime serves causal language models" + HfConfig.PATH_HINT);
        }
        return text;
    }

    /**
     * The text model's tensors under the names a {@code Gemma3ForCausalLM} checkpoint gives them: transformers 4.x's
     * {@code language_model.model.*} and {@code language_model.lm_head.*}, or 5.x's {@code model.language_model.*};
     * the vision tower's and the projector's are left out (logged), anything else is kept to be reported unread.
     */
    static Map<String, LazyTensor> weights(Map<String, LazyTensor> in, String where) {
        Map<String, LazyTensor> out = new LinkedHashMap<>();
        int vision = 0;
        for (var e : in.entrySet()) {
            String name = e.getKey();
            String renamed = renamed(name);
            if (VISION.stream().anyMatch(renamed::startsWith)) {
                vision++;
                continue;
            }
            if (out.containsKey(renamed)) {
                throw new CheckpointException(where + ": tensor '" + renamed + "' is stored twice (as '" + name
                        + "' too)");
            }
            out.put(renamed, e.getValue().named(renamed));
        }
        if (vision > 0) {
            LOG.info("{}: serving the text model of {}; the vision tower's and projector's {} tensors are not loaded",
                    where, MULTIMODAL, vision);
        }
        return out;
    }

    private static String renamed(String name) {
        for (String[] prefix : TEXT) {
            if (name.startsWith(prefix[0])) {
                return prefix[1] + name.substring(prefix[0].length());
            }
        }
        return name;
    }
}

package dev.reftserver.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The text weights of a Gemma3ForConditionalGeneration under the names of a Gemma3ForCausalLM, from either naming
 * transformers has used (variants/gemma3-vlm holds the one transformers 5.18 writes; this covers the other).
 */
class Gemma3TextTest {

    private static Map<String, LazyTensor> named(String... names) {
        Map<String, LazyTensor> out = new LinkedHashMap<>();
        for (String n : names) {
            out.put(n, new LazyTensor(n, new long[] {1}, () -> new float[] {0}));
        }
        return out;
    }

    @Test
    void renamesBothNamingsAndLeavesTheVisionWeightsOut() {
        Map<String, LazyTensor> v4 = Gemma3Text.weights(named("language_model.model.embed_tokens.weight",
                "language_model.model.layers.0.self_attn.q_proj.weight", "language_model.lm_head.weight",
                "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
                "multi_modal_projector.mm_input_projection_weight"), "v4");
        assertThat(v4.keySet()).containsExactly("model.embed_tokens.weight",
                "model.layers.0.self_attn.q_proj.weight", "lm_head.weight");
        assertThat(v4.get("lm_head.weight").name()).isEqualTo("lm_head.weight");
        Map<String, LazyTensor> v5 = Gemma3Text.weights(named("model.language_model.embed_tokens.weight",
                "model.language_model.norm.weight", "lm_head.weight",
                "model.vision_tower.embeddings.patch_embedding.bias",
                "model.multi_modal_projector.mm_soft_emb_norm.weight", "something.else"), "v5");
        assertThat(v5.keySet()).containsExactly("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                "something.else");
    }

    @Test
    void refusesATensorStoredUnderBothNames() {
        assertThatThrownBy(() -> Gemma3Text.weights(named("language_model.model.norm.weight",
                "model.language_model.norm.weight"), "dup"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("model.norm.weight");
    }
}

package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.Safetensors;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Manual check of the Hugging Face path against the reference's own converter: point
 * {@code REFT_STORIES15M_HF_DIR} at a directory made by {@code reference/stories15m-hf/convert_l2c_to_hf.py}
 * (the 60 MB model.safetensors stays out of git). CI covers the same path with a directory written in Java
 * ({@link CheckpointFormatsTest}).
 */
@EnabledIfEnvironmentVariable(named = "REFT_STORIES15M_HF_DIR", matches = ".+")
class ConvertedHfDirectoryTest {

    @Test
    void everyReferencePromptMatchesLogitsAndGreedyTokens() {
        Path dir = Path.of(System.getenv("REFT_STORIES15M_HF_DIR"));
        Safetensors tensors = ReferenceFiles.tensors("reference/base/base_reference_tensors.safetensors");
        try (TransformerLM model = ModelLoader.load(dir, "cpu", "float32")) {
            BaseModelReferenceTest.model = model;
            int checked = 0;
            for (JsonElement e : ReferenceFiles.json("reference/base/base_reference.json").getAsJsonArray("prompts")) {
                JsonObject p = e.getAsJsonObject();
                String name = p.get("name").getAsString();
                int[] ids = BaseModelReferenceTest.ints(p.getAsJsonArray("ids"));
                int[] expected = BaseModelReferenceTest.ints(p.getAsJsonObject("greedy_32").getAsJsonArray("ids"));
                try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, 256)) {
                    float[] logits = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                            .toFloatArray();
                    assertThat(maxAbsDiff(logits, tensors.read(name + ".last_logits").data())).as(name)
                            .isLessThanOrEqualTo(1e-4f);
                    assertThat(BaseModelReferenceTest.greedy(step, cache, logits, expected.length)).as(name)
                            .containsExactly(expected);
                }
                checked++;
            }
            assertThat(checked).isEqualTo(8);
        } finally {
            BaseModelReferenceTest.model = null;
        }
    }
}

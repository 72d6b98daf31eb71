package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.Safetensors;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Random-init GPT-2, Qwen2 (q/k/v bias, GQA) and Mistral (GQA) HF directories against transformers: logits at
 * every position within 1e-4, and 16 greedy tokens through the KV cache exactly.
 */
class TinyModelReferenceTest {

    /**
     * On 1 to 4 threads: 4 heads and 2 key/value heads split into 1, 2 or 4 parts, the 128 MLP channels and 1000
     * vocabulary rows into up to 4 (uneven for 3).
     */
    @ParameterizedTest
    @CsvSource({"gpt2,1", "gpt2,2", "gpt2,3", "gpt2,4", "qwen2,1", "qwen2,2", "qwen2,3", "mistral,1", "mistral,2",
        "mistral,4"})
    void logitsAndGreedyIdsMatchTransformers(String arch, int threads) {
        String dir = "reference/tiny/" + arch;
        JsonObject ref = ReferenceFiles.json(dir + "/reference.json");
        Safetensors logitsRef = ReferenceFiles.tensors(dir + "/reference_logits.safetensors");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "float32", threads)) {
            int inputs = 0;
            for (JsonElement e : ref.getAsJsonArray("inputs")) {
                JsonObject in = e.getAsJsonObject();
                String name = in.get("name").getAsString();
                int[] ids = BaseModelReferenceTest.ints(in.getAsJsonArray("input_ids"));
                int[] expected = BaseModelReferenceTest.ints(in.getAsJsonArray("greedy_ids"));
                try (NDManager step = NDManager.newBaseManager()) {
                    float[] all = model.logitsAllPositions(step, ids).toFloatArray();
                    assertThat(maxAbsDiff(all, logitsRef.read(name + ".logits").data()))
                            .as("%s/%s logits", arch, name).isLessThanOrEqualTo(1e-4f);
                    int vocab = model.config().vocabSize();
                    float[] lastRow = Arrays.copyOfRange(all, (ids.length - 1) * vocab, ids.length * vocab);
                    try (KvCache cache = model.newCache(1, ids.length + expected.length)) {
                        float[] last = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                                .toFloatArray();
                        assertThat(maxAbsDiff(last, lastRow)).isLessThanOrEqualTo(1e-5f);
                        int[] got = new int[expected.length];
                        int next = argmax(last);
                        for (int s = 0; s < expected.length; s++) {
                            got[s] = next;
                            if (s < expected.length - 1) {
                                try (NDManager sub = step.newSubManager()) {
                                    next = argmax(model.decode(sub, new int[] {next}, cache).toFloatArray());
                                }
                            }
                        }
                        assertThat(got).as("%s/%s greedy", arch, name).containsExactly(expected);
                    }
                }
                inputs++;
            }
            assertThat(inputs).isEqualTo(4);
        }
    }
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.model.checkpoint.Safetensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The training forward is the served model: on the tiny Qwen2 (q/k/v bias, GQA), Mistral (GQA) and GPT-2 references,
 * split into 1 to 4 parts, its logits at every position of all inputs batched together (right-padded) are
 * transformers' within 1e-4.
 */
class DifferentiableForwardTest {

    @ParameterizedTest
    @CsvSource({"qwen2,1", "qwen2,2", "mistral,1", "mistral,4", "gpt2,1", "gpt2,2"})
    void batchedTrainingLogitsMatchTransformers(String arch, int threads) {
        String dir = "reference/tiny/" + arch;
        JsonObject ref = ReferenceFiles.json(dir + "/reference.json");
        Safetensors logitsRef = ReferenceFiles.tensors(dir + "/reference_logits.safetensors");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "float32", threads);
                NDManager step = NDManager.newBaseManager()) {
            List<String> names = new ArrayList<>();
            List<int[]> rows = prompts(ref, "inputs", "input_ids", names);
            int tokens = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
            List<Long> positions = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++) {
                for (int t = 0; t < rows.get(i).length; t++) {
                    positions.add((long) i * tokens + t);
                }
            }
            float[] all = model.training().logits(step, rows.toArray(int[][]::new), BlockHook.NONE,
                    positions.stream().mapToLong(Long::longValue).toArray()).toFloatArray();
            int vocab = model.config().vocabSize();
            int offset = 0;
            for (int i = 0; i < rows.size(); i++) {
                int n = rows.get(i).length * vocab;
                float[] got = Arrays.copyOfRange(all, offset, offset + n);
                offset += n;
                assertThat(ReferenceFiles.maxAbsDiff(got, logitsRef.read(names.get(i) + ".logits").data()))
                        .as("%s/%s", arch, names.get(i)).isLessThanOrEqualTo(1e-4f);
            }
        }
    }

    /** The token ids of each entry of {@code ref[list]} (under {@code idsKey}), its name added to {@code names}. */
    private static List<int[]> prompts(JsonObject ref, String list, String idsKey, List<String> names) {
        List<int[]> rows = new ArrayList<>();
        for (JsonElement e : ref.getAsJsonArray(list)) {
            JsonObject p = e.getAsJsonObject();
            names.add(p.get("name").getAsString());
            rows.add(p.getAsJsonArray(idsKey).asList().stream().mapToInt(JsonElement::getAsInt).toArray());
        }
        return rows;
    }

    /**
     * The same at the last position of each of 13 prompts (up to 316 tokens: past the sliding windows) batched
     * together, on every Llama-family block: Llama 3's RoPE scaling, Qwen3's q/k norms, Gemma 2's norms, soft-caps
     * and alternating sliding windows, Phi-3's fused projections, Mistral's sliding window, Gemma 1 and Gemma 3
     * (local layers with their own RoPE; the text model of the multimodal form), a Llama whose every projection has
     * a bias (o_proj's and down_proj's added once, however many parts the weights are cut into), SmolLM3 (every
     * second layer without RoPE), Granite (its multipliers) and a gated MLP with the exact GELU; and GPT-2 with its
     * attention scaling switches (scores divided by layer + 1; not by sqrt(head_dim), with a ReLU MLP).
     */
    @ParameterizedTest
    @CsvSource({"models-next/llama3-rope,2", "models-next/qwen3,1", "models-next/qwen3,2", "models-next/gemma2,1",
        "models-next/gemma2,3", "models-next/phi3,2", "models-next/mistral-sliding,1", "models-next/mistral-sliding,2",
        "variants/gemma,2", "variants/gemma3,1", "variants/gemma3,2", "variants/gemma3-vlm,2",
        "variants/llama-biases,1", "variants/llama-biases,2", "variants/smollm3,1", "variants/smollm3,2",
        "variants/granite,1", "variants/granite,2", "variants/qwen2-gelu,2", "variants/gpt2-layer-scaled,1",
        "variants/gpt2-layer-scaled,2", "variants/gpt2-unscaled,2"})
    void everyBlockMatchesTransformers(String variant, int threads) {
        String dir = "reference/" + variant;
        JsonObject ref = ReferenceFiles.json(dir + "/reference.json");
        Safetensors logitsRef = ReferenceFiles.tensors(dir + "/logits.safetensors");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "float32", threads);
                NDManager step = NDManager.newBaseManager()) {
            List<String> names = new ArrayList<>();
            List<int[]> rows = prompts(ref, "prompts", "ids", names);
            int tokens = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
            long[] last = new long[rows.size()];
            for (int i = 0; i < rows.size(); i++) {
                last[i] = (long) i * tokens + rows.get(i).length - 1;
            }
            float[] all = model.training().logits(step, rows.toArray(int[][]::new), BlockHook.NONE, last)
                    .toFloatArray();
            int vocab = model.config().vocabSize();
            for (int i = 0; i < rows.size(); i++) {
                float[] got = Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab);
                assertThat(ReferenceFiles.maxAbsDiff(got, logitsRef.read(names.get(i)).data()))
                        .as("%s/%s", variant, names.get(i)).isLessThanOrEqualTo(1e-4f);
            }
        }
    }
}

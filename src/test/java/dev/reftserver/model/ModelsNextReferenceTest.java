package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.Safetensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The architectures real checkpoints use beyond plain Llama (reference/models-next: Llama 3 RoPE scaling in both
 * config forms, Qwen3, Gemma 2, Phi-3, sliding-window Mistral) and the RoPE scalings of long-context checkpoints
 * (reference/rope-scaling: Phi-3's longrope with partial rotation, yarn in both config forms), and a Llama whose
 * every projection carries a bias (reference/variants/llama-biases: attention_bias and mlp_bias), Gemma 1 and
 * Gemma 3 (reference/variants/gemma, gemma3: local layers with their own RoPE base; gemma3-vlm: the text model of
 * a Gemma3ForConditionalGeneration, released config form, vision weights beside it), SmolLM3
 * (reference/variants/smollm3: every second layer without RoPE) and Granite (reference/variants/granite: embedding,
 * attention, residual and logits multipliers), and GPT-2 with its attention scaling switches (reference/variants/
 * gpt2-layer-scaled: scores divided by layer + 1; gpt2-unscaled: not by sqrt(head_dim), a ReLU MLP) and the exact
 * GELU in a gated MLP (reference/variants/qwen2-gelu) against
 * transformers: for each of 13 prompts (up to 316 tokens, far past the sliding windows and the original contexts)
 * the last-position logits within 1e-4 and the greedy ids exactly, through the KV cache, each prompt alone and all
 * 13 as one batch of uneven rows (longrope picks its factors per row, so a row's ids are those of its prompt
 * alone).
 */
class ModelsNextReferenceTest {

    private static final float LOGITS_ABS = 1e-4f;

    /** Thread counts split heads, channels and vocabulary into 1 to 4 parts (uneven for 3). */
    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "llama3-rope,2", "llama3-rope-v5config,1", "qwen3,1", "qwen3,2", "gemma2,1",
        "gemma2,3", "phi3,1", "phi3,2", "mistral-sliding,1", "mistral-sliding,4",
        "rope-scaling/phi3-longrope,1", "rope-scaling/phi3-longrope,2", "rope-scaling/qwen2-yarn,1",
        "rope-scaling/qwen2-yarn,2", "rope-scaling/llama-yarn-v5config,1", "variants/llama-biases,1",
        "variants/llama-biases,2", "variants/gemma,1", "variants/gemma,2",
        "variants/gemma3,1", "variants/gemma3,2", "variants/gemma3-vlm,1", "variants/gemma3-vlm,2",
        "variants/smollm3,1", "variants/smollm3,2", "variants/granite,1", "variants/granite,2",
        "variants/gpt2-layer-scaled,1", "variants/gpt2-layer-scaled,2", "variants/gpt2-unscaled,1",
        "variants/qwen2-gelu,1", "variants/qwen2-gelu,2"})
    void eachPromptAloneMatchesTransformers(String name, int threads) {
        Reference ref = Reference.of(name);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir), "cpu", "float32", threads)) {
            for (Prompt p : ref.prompts) {
                try (NDManager step = NDManager.newBaseManager();
                        KvCache cache = model.newCache(1, p.ids.length + p.greedy.length)) {
                    float[] last = model.prefill(step, new int[][] {p.ids}, new int[] {0}, cache, BlockHook.NONE)
                            .toFloatArray();
                    assertThat(maxAbsDiff(last, ref.logits(p.name))).as("%s/%s logits", name, p.name)
                            .isLessThanOrEqualTo(LOGITS_ABS);
                    List<Integer> got = new ArrayList<>();
                    int next = argmax(last);
                    while (true) {
                        got.add(next);
                        if (got.size() == p.greedy.length || model.config().eosIds().contains(next)) {
                            break;
                        }
                        try (NDManager sub = step.newSubManager()) {
                            rebuildIfDue(model, sub, cache, 0, p.ids, got);
                            next = argmax(model.decode(sub, new int[] {next}, cache).toFloatArray());
                        }
                    }
                    assertThat(got).as("%s/%s greedy", name, p.name).containsExactly(box(p.greedy));
                }
            }
        }
    }

    /**
     * All prompts prefilled as one right-padded batch, then decoded together: rows at different positions, so
     * decode masks (and slides) per row.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,2", "qwen3,1", "gemma2,2", "phi3,1", "mistral-sliding,2", "rope-scaling/phi3-longrope,1",
        "rope-scaling/qwen2-yarn,2", "rope-scaling/llama-yarn-v5config,1", "variants/llama-biases,2",
        "variants/gemma,2", "variants/gemma3,2", "variants/gemma3-vlm,1", "variants/smollm3,2",
        "variants/granite,2", "variants/gpt2-layer-scaled,2", "variants/gpt2-unscaled,2",
        "variants/qwen2-gelu,2"})
    void allPromptsAsOneBatchMatchTransformers(String name, int threads) {
        Reference ref = Reference.of(name);
        int n = ref.prompts.size();
        int[][] prompts = new int[n][];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            prompts[i] = ref.prompts.get(i).ids;
            longest = Math.max(longest, prompts[i].length);
        }
        int[] slots = new int[n];
        Arrays.setAll(slots, i -> i);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir), "cpu", "float32", threads);
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(n, longest + 16)) {
            int vocab = model.config().vocabSize();
            float[] logits = model.prefill(step, prompts, slots, cache, BlockHook.NONE).toFloatArray();
            int[][] got = new int[n][16];
            int[] next = new int[n];
            for (int i = 0; i < n; i++) {
                float[] row = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
                assertThat(maxAbsDiff(row, ref.logits(ref.prompts.get(i).name)))
                        .as("%s/%s batched logits", name, ref.prompts.get(i).name).isLessThanOrEqualTo(LOGITS_ABS);
                next[i] = argmax(row);
            }
            for (int s = 0; s < 16; s++) {
                for (int i = 0; i < n; i++) {
                    got[i][s] = next[i];
                }
                if (s < 15) {
                    try (NDManager sub = step.newSubManager()) {
                        for (int i = 0; i < n; i++) {
                            List<Integer> fed = new ArrayList<>();
                            for (int k = 0; k <= s; k++) {
                                fed.add(got[i][k]);
                            }
                            rebuildIfDue(model, sub, cache, i, prompts[i], fed);
                        }
                        float[] all = model.decode(sub, next, cache).toFloatArray();
                        for (int i = 0; i < n; i++) {
                            next[i] = argmax(Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab));
                        }
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                Prompt p = ref.prompts.get(i);
                // A row that ended at EOS runs on in the batch; its ids up to and including the EOS must match.
                assertThat(Arrays.copyOf(got[i], p.greedy.length)).as("%s/%s batched greedy", name, p.name)
                        .containsExactly(p.greedy);
            }
        }
    }

    /**
     * The hook sees each decoder layer's output, [rows, tokens, hidden], in layer order on every architecture, and
     * what it returns is what the next layer reads: adding 1 to layer 0's output changes the logits.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope", "qwen3", "gemma2", "phi3", "mistral-sliding"})
    void hookSeesEveryDecoderLayerAndItsEditsReachTheLogits(String name) {
        Reference ref = Reference.of(name);
        Prompt p = ref.prompts.get(0);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir), "cpu", "float32", 1);
                NDManager step = NDManager.newBaseManager()) {
            ModelConfig c = model.config();
            List<Integer> seen = new ArrayList<>();
            BlockHook record = (layer, hidden) -> {
                assertThat(hidden.getShape().getShape()).containsExactly(1, p.ids.length, c.hiddenSize());
                seen.add(layer);
                return hidden;
            };
            float[] plain;
            try (KvCache cache = model.newCache(1, p.ids.length)) {
                plain = model.prefill(step, new int[][] {p.ids}, new int[] {0}, cache, record).toFloatArray();
            }
            assertThat(seen).hasSize(c.numLayers());
            for (int l = 0; l < c.numLayers(); l++) {
                assertThat(seen.get(l)).isEqualTo(l);
            }
            assertThat(maxAbsDiff(plain, ref.logits(p.name))).isLessThanOrEqualTo(LOGITS_ABS);
            BlockHook shift = (layer, hidden) -> layer == 0 ? hidden.add(1f) : hidden;
            try (KvCache cache = model.newCache(1, p.ids.length)) {
                float[] edited = model.prefill(step, new int[][] {p.ids}, new int[] {0}, cache, shift).toFloatArray();
                assertThat(maxAbsDiff(edited, plain)).isGreaterThan(1e-3f);
            }
        }
    }

    /**
     * What the engine does before a decode step (ModelRunner): a slot at {@link CausalLM#rebuildAt()} is computed
     * again from its prompt and the tokens fed so far but the last ({@code fed}'s last is the step's input).
     */
    static void rebuildIfDue(CausalLM model, NDManager step, KvCache cache, int slot, int[] prompt, List<Integer> fed) {
        if (cache.length(slot) != model.rebuildAt()) {
            return;
        }
        int[] tokens = Arrays.copyOf(prompt, prompt.length + fed.size() - 1);
        for (int k = 0; k < fed.size() - 1; k++) {
            tokens[prompt.length + k] = fed.get(k);
        }
        model.rebuild(step, tokens, slot, cache, BlockHook.NONE);
    }

    private static Integer[] box(int[] v) {
        return Arrays.stream(v).boxed().toArray(Integer[]::new);
    }

    record Prompt(String name, int[] ids, int[] greedy) {
    }

    record Reference(String dir, List<Prompt> prompts, Safetensors logitsFile) {

        /** A folder of reference/models-next by name, or of reference/ by its path. */
        static Reference of(String name) {
            String dir = "reference/" + (name.contains("/") ? name : "models-next/" + name);
            JsonObject json = ReferenceFiles.json(dir + "/reference.json");
            List<Prompt> prompts = new ArrayList<>();
            for (JsonElement e : json.getAsJsonArray("prompts")) {
                JsonObject p = e.getAsJsonObject();
                prompts.add(new Prompt(p.get("name").getAsString(),
                        BaseModelReferenceTest.ints(p.getAsJsonArray("ids")),
                        BaseModelReferenceTest.ints(p.getAsJsonObject("greedy").getAsJsonArray("ids"))));
            }
            assertThat(prompts).hasSize(13);
            return new Reference(dir, prompts, ReferenceFiles.tensors(dir + "/logits.safetensors"));
        }

        float[] logits(String prompt) {
            return logitsFile.read(prompt).data();
        }
    }
}

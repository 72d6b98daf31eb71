package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.Safetensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * stories15M loaded from the llama2.c checkpoint against reference/base (HF transformers, fp32): last-position
 * logits within 1e-4 and the 32 greedy tokens exactly, alone and in a padded batch.
 */
class BaseModelReferenceTest {

    static TransformerLM model;
    static List<JsonObject> prompts = new ArrayList<>();
    static Safetensors tensors;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        for (JsonElement e : ReferenceFiles.json("reference/base/base_reference.json").getAsJsonArray("prompts")) {
            prompts.add(e.getAsJsonObject());
        }
        tensors = ReferenceFiles.tensors("reference/base/base_reference_tensors.safetensors");
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }

    @Test
    void lastLogitsAndGreedyTokensMatchReferenceForEveryPrompt() {
        assertThat(prompts).hasSize(8);
        for (JsonObject p : prompts) {
            String name = p.get("name").getAsString();
            int[] ids = ints(p.getAsJsonArray("ids"));
            float[] ref = tensors.read(name + ".last_logits").data();
            int[] expected = ints(p.getAsJsonObject("greedy_32").getAsJsonArray("ids"));
            try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, 256)) {
                float[] logits = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                        .toFloatArray();
                assertThat(maxAbsDiff(logits, ref)).as("last logits of %s", name).isLessThanOrEqualTo(1e-4f);
                int[] generated = greedy(step, cache, logits, expected.length);
                assertThat(generated).as("greedy ids of %s", name).containsExactly(expected);
            }
        }
    }

    @Test
    void paddedBatchOfEightGivesEachRowItsOwnLogitsAndTokens() {
        int n = prompts.size();
        int[][] batch = new int[n][];
        for (int i = 0; i < n; i++) {
            batch[i] = ints(prompts.get(i).getAsJsonArray("ids"));
        }
        int steps = 32;
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(n, 256)) {
            int[] slots = new int[n];
            for (int i = 0; i < n; i++) {
                slots[i] = i;
            }
            NDArray logits = model.prefill(step, batch, slots, cache, BlockHook.NONE);
            int[][] generated = new int[n][steps];
            int[] next = new int[n];
            for (int i = 0; i < n; i++) {
                String name = prompts.get(i).get("name").getAsString();
                float[] row = logits.get(i).toFloatArray();
                assertThat(maxAbsDiff(row, tensors.read(name + ".last_logits").data()))
                        .as("batched last logits of %s", name).isLessThanOrEqualTo(1e-4f);
                next[i] = argmax(row);
            }
            for (int s = 0; s < steps; s++) {
                for (int i = 0; i < n; i++) {
                    generated[i][s] = next[i];
                }
                if (s == steps - 1) {
                    break;
                }
                try (NDManager sub = step.newSubManager()) {
                    NDArray out = model.decode(sub, next, cache);
                    for (int i = 0; i < n; i++) {
                        next[i] = argmax(out.get(i).toFloatArray());
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                JsonObject p = prompts.get(i);
                assertThat(generated[i]).as("batched greedy ids of %s", p.get("name").getAsString())
                        .containsExactly(ints(p.getAsJsonObject("greedy_32").getAsJsonArray("ids")));
            }
        }
    }

    /**
     * Decode reads and writes only the first n rows of a larger cache (the engine's case): three prompts of
     * different lengths, then two of the same length (one position for the whole step), in a cache of 8 rows.
     */
    @Test
    void rowsBelowTheCacheSizeGiveTheReferenceTokens() {
        for (int[] pick : new int[][] {{0, 3, 5}, {1, 1}}) {
            int n = pick.length;
            int steps = 16;
            try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(8, 256)) {
                int[][] batch = new int[n][];
                int[] slots = new int[n];
                for (int i = 0; i < n; i++) {
                    batch[i] = ints(prompts.get(pick[i]).getAsJsonArray("ids"));
                    slots[i] = i;
                }
                NDArray logits = model.prefill(step, batch, slots, cache, BlockHook.NONE);
                int[] next = new int[n];
                int[][] generated = new int[n][steps];
                for (int i = 0; i < n; i++) {
                    next[i] = argmax(logits.get(i).toFloatArray());
                }
                for (int s = 0; s < steps; s++) {
                    for (int i = 0; i < n; i++) {
                        generated[i][s] = next[i];
                    }
                    try (NDManager sub = step.newSubManager()) {
                        NDArray out = model.decode(sub, next, cache);
                        for (int i = 0; i < n; i++) {
                            next[i] = argmax(out.get(i).toFloatArray());
                        }
                    }
                }
                for (int i = 0; i < n; i++) {
                    int[] expected = ints(prompts.get(pick[i]).getAsJsonObject("greedy_32").getAsJsonArray("ids"));
                    assertThat(generated[i]).as("row %d (prompt %d) of %d", i, pick[i], n)
                            .containsExactly(Arrays.copyOf(expected, steps));
                }
            }
        }
    }

    /** The model split across 1 or 3 threads (the default is every core) gives the same logits and tokens. */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void everyThreadCountMatchesTheReference(int threads) {
        try (TransformerLM split = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32", threads)) {
            assertThat(split.threads()).isEqualTo(threads);
            for (JsonObject p : prompts) {
                String name = p.get("name").getAsString();
                int[] ids = ints(p.getAsJsonArray("ids"));
                int[] expected = ints(p.getAsJsonObject("greedy_32").getAsJsonArray("ids"));
                try (NDManager step = NDManager.newBaseManager(); KvCache cache = split.newCache(1, 256)) {
                    float[] logits = split.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                            .toFloatArray();
                    assertThat(maxAbsDiff(logits, tensors.read(name + ".last_logits").data()))
                            .as("last logits of %s on %d threads", name, threads).isLessThanOrEqualTo(1e-4f);
                    assertThat(greedy(split, step, cache, logits, expected.length))
                            .as("greedy ids of %s on %d threads", name, threads).containsExactly(expected);
                }
            }
        }
    }

    static int[] greedy(NDManager step, KvCache cache, float[] firstLogits, int count) {
        return greedy(model, step, cache, firstLogits, count);
    }

    static int[] greedy(TransformerLM model, NDManager step, KvCache cache, float[] firstLogits, int count) {
        int[] out = new int[count];
        int next = argmax(firstLogits);
        for (int s = 0; s < count; s++) {
            out[s] = next;
            if (s == count - 1) {
                break;
            }
            try (NDManager sub = step.newSubManager()) {
                next = argmax(model.decode(sub, new int[] {next}, cache).toFloatArray());
            }
        }
        return out;
    }
}

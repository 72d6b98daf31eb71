package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.Safetensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A model with bfloat16 weights keeps its KV cache in bfloat16 and attends over it in bfloat16, as transformers
 * runs a bfloat16 model: the cache takes half the memory, and the logits of a decode step read from it stay as close
 * to transformers' float32 reference as a bfloat16 prefill's.
 */
class Bfloat16KvCacheTest {

    @Test
    void aBfloat16ModelKeepsItsCacheAtTwoBytesAValue() {
        Path dir = ReferenceFiles.resource("reference/models-next/qwen3");
        try (TransformerLM f32 = ModelLoader.load(dir, "cpu", "float32", 1);
                TransformerLM bf16 = ModelLoader.load(dir, "cpu", "bfloat16", 1);
                KvCache wide = f32.newCache(4, 512);
                KvCache narrow = bf16.newCache(4, 512)) {
            assertThat(f32.cacheElementBytes()).isEqualTo(4);
            assertThat(bf16.cacheElementBytes()).isEqualTo(2);
            assertThat(wide.bfloat16()).isFalse();
            assertThat(narrow.bfloat16()).isTrue();
            assertThat(narrow.bytes() * 2).isEqualTo(wide.bytes());
        }
    }

    @Test
    void theCacheDtypeCanBeChosenWithinWhatTheModelKeeps() {
        Path dir = ReferenceFiles.resource("reference/models-next/qwen3");
        try (TransformerLM f32 = ModelLoader.load(dir, "cpu", "float32", 1);
                TransformerLM bf16 = ModelLoader.load(dir, "cpu", "bfloat16", 1)) {
            bf16.useCacheDtype("float32");
            assertThat(bf16.cacheElementBytes()).isEqualTo(4);
            try (KvCache cache = bf16.newCache(2, 64)) {
                assertThat(cache.bfloat16()).isFalse();
            }
            bf16.useCacheDtype(" BFloat16 ");
            assertThat(bf16.cacheElementBytes()).isEqualTo(2);
            bf16.useCacheDtype("auto");
            assertThat(bf16.cacheElementBytes()).isEqualTo(2);
            f32.useCacheDtype("float32");
            assertThat(f32.cacheElementBytes()).isEqualTo(4);
            assertThatThrownBy(() -> f32.useCacheDtype("bfloat16")).isInstanceOf(CheckpointException.class)
                    .hasMessage("reft.model.kv-cache-dtype bfloat16 needs bfloat16 weights; this model runs float32"
                            + " weights with float32 activations; use auto");
            assertThatThrownBy(() -> bf16.useCacheDtype("fp8")).isInstanceOf(CheckpointException.class)
                    .hasMessage("unknown reft.model.kv-cache-dtype 'fp8' (supported: auto, float32, bfloat16)");
            assertThat(f32.cacheElementBytes()).as("a refused value changes nothing").isEqualTo(4);
        }
    }

    /**
     * With bfloat16 weights and a float32 cache a decode step is the float32 attention of before: the logits of a
     * greedy continuation's steps are within bfloat16 rounding of those over the bfloat16 cache, and the same ids.
     */
    @Test
    void aFloat32CacheOverBfloat16WeightsDecodesAlike() {
        String dir = "reference/models-next/llama3-rope";
        JsonObject prompt = ReferenceFiles.json(dir + "/reference.json").getAsJsonArray("prompts").get(0)
                .getAsJsonObject();
        int[] ids = BaseModelReferenceTest.ints(prompt.getAsJsonArray("ids"));
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "bfloat16", 1);
                NDManager step = NDManager.newBaseManager()) {
            float[][] narrow = continuation(model, step, ids);
            model.useCacheDtype("float32");
            float[][] wide = continuation(model, step, ids);
            for (int s = 0; s < narrow.length; s++) {
                float scale = Math.abs(wide[s][argmax(wide[s])]);
                assertThat(maxAbsDiff(narrow[s], wide[s]) / scale).as("step %d", s).isLessThan(0.02f);
                assertThat(argmax(narrow[s])).as("step %d", s).isEqualTo(argmax(wide[s]));
            }
        }
    }

    /** The logits of 8 greedy decode steps after a prefill of {@code ids}. */
    private static float[][] continuation(TransformerLM model, NDManager step, int[] ids) {
        float[][] out = new float[8][];
        try (KvCache cache = model.newCache(1, ids.length + out.length)) {
            float[] logits = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                    .toFloatArray();
            for (int s = 0; s < out.length; s++) {
                logits = model.decode(step, new int[] {argmax(logits)}, cache).toFloatArray();
                out[s] = logits;
            }
        }
        return out;
    }

    /**
     * Every prompt of the reference but its last token is prefilled, all in one left-aligned batch (so the rows sit
     * at different positions and decode masks them), then one decode step feeds each row its last token: the logits
     * of that step are the reference's (the last prompt position) within bfloat16's rounding, as a prefill's are
     * ({@link Bfloat16WeightsTest}). The long prompts cross the sliding windows; the prefill runs in chunks, so later
     * chunks read the earlier ones' keys from the bfloat16 cache.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "mistral-sliding,2", "gemma2,2", "qwen3,1", "phi3,2"})
    void aDecodeStepOverTheCacheGivesTheReferenceLogits(String name, int threads) {
        String dir = "reference/models-next/" + name;
        Safetensors logits = ReferenceFiles.tensors(dir + "/logits.safetensors");
        List<int[]> prompts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (JsonElement e : ReferenceFiles.json(dir + "/reference.json").getAsJsonArray("prompts")) {
            JsonObject p = e.getAsJsonObject();
            int[] ids = BaseModelReferenceTest.ints(p.getAsJsonArray("ids"));
            if (ids.length >= 2) {
                prompts.add(ids);
                names.add(p.get("name").getAsString());
            }
        }
        int n = prompts.size();
        int[][] heads = new int[n][];
        int[] last = new int[n];
        int[] slots = new int[n];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            int[] ids = prompts.get(i);
            heads[i] = Arrays.copyOf(ids, ids.length - 1);
            last[i] = ids[ids.length - 1];
            slots[i] = i;
            longest = Math.max(longest, ids.length);
        }
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "bfloat16", threads);
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(n, longest)) {
            assertThat(cache.bfloat16()).isTrue();
            model.prefill(step, heads, slots, cache, BlockHook.NONE, 64);
            NDArray decoded = model.decode(step, last, cache);
            float worst = 0;
            int sameTop1 = 0;
            for (int i = 0; i < n; i++) {
                float[] got = decoded.get(i).toFloatArray();
                float[] want = logits.read(names.get(i)).data();
                worst = Math.max(worst, maxAbsDiff(got, want) / Math.abs(want[argmax(want)]));
                sameTop1 += argmax(got) == argmax(want) ? 1 : 0;
            }
            assertThat(worst).as("%s: worst logit error over the largest logit", name).isLessThan(0.05f)
                    .isGreaterThan(0f);
            assertThat(sameTop1).as("%s: prompts whose top token matches", name).isGreaterThanOrEqualTo(n - 2);
        }
    }
}

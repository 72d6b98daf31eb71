package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.model.checkpoint.SafetensorsFiles;
import dev.reftserver.model.checkpoint.TensorData;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code reft.model.dtype=bfloat16}: weights in bfloat16, the rest in float32, close to transformers' fp32 logits. */
class Bfloat16WeightsTest {

    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "gemma2,2", "gemma2,1", "phi3,1", "qwen3,2", "mistral-sliding,1",
        "variants/llama-biases,2", "variants/gemma,2", "variants/gemma3,2", "variants/smollm3,2",
        "variants/granite,2", "variants/granite,1"})
    void logitsStayWithinBfloat16RoundingOfTheFloat32Reference(String name, int threads) {
        String dir = "reference/" + (name.contains("/") ? name : "models-next/" + name);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "bfloat16", threads)) {
            assertNearFloat32(name, dir, model);
        }
    }

    /**
     * The same for the layout a GPU uses (plain bfloat16 weights multiplied by libtorch's {@code linear}, not packed
     * for oneDNN), run here on the CPU.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "gemma2,2", "phi3,1", "qwen3,2", "variants/granite,2"})
    void theGpuLayoutStaysWithinBfloat16RoundingToo(String name, int threads) {
        String dir = "reference/" + (name.contains("/") ? name : "models-next/" + name);
        try (TransformerLM model = TestModels.unpackedBfloat16(ReferenceFiles.resource(dir), threads)) {
            assertNearFloat32(name, dir, model);
        }
    }

    private static void assertNearFloat32(String name, String dir, TransformerLM model) {
        Safetensors logits = ReferenceFiles.tensors(dir + "/logits.safetensors");
        try (NDManager step = NDManager.newBaseManager()) {
            float worst = 0;
            int sameTop1 = 0;
            int prompts = 0;
            for (JsonElement e : ReferenceFiles.json(dir + "/reference.json").getAsJsonArray("prompts")) {
                JsonObject p = e.getAsJsonObject();
                int[] ids = BaseModelReferenceTest.ints(p.getAsJsonArray("ids"));
                float[] want = logits.read(p.get("name").getAsString()).data();
                try (KvCache cache = model.newCache(1, ids.length)) {
                    float[] got = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                            .toFloatArray();
                    worst = Math.max(worst, maxAbsDiff(got, want) / Math.abs(want[argmax(want)]));
                    sameTop1 += argmax(got) == argmax(want) ? 1 : 0;
                }
                prompts++;
            }
            // bfloat16 keeps 8 significant bits (relative rounding 2^-9, about 0.2%); a handful of roundings
            // through two to four layers stays within a few percent of the largest logit.
            assertThat(worst).as("%s: worst logit error over the largest logit", name).isLessThan(0.05f)
                    .isGreaterThan(0f);
            assertThat(sameTop1).as("%s: prompts whose top token matches", name).isGreaterThanOrEqualTo(prompts - 2);
        }
    }

    /**
     * A BF16 embedding table is used as a view of the file's memory map, not copied: the same logits, bit for bit,
     * as the same values stored F32 and rounded to bfloat16 at load (tied: the table is the output layer too).
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,2", "qwen3,1"})
    void aStoredBfloat16EmbeddingIsMappedAndGivesTheSameLogits(String name, int threads, @TempDir Path tmp)
            throws IOException {
        Path original = ReferenceFiles.resource("reference/models-next/" + name);
        Path rewritten = tmp.resolve(name);
        Files.createDirectories(rewritten);
        for (String f : new String[] {"config.json", "generation_config.json"}) {
            if (Files.exists(original.resolve(f))) {
                Files.copy(original.resolve(f), rewritten.resolve(f));
            }
        }
        Safetensors st = Safetensors.open(original.resolve("model.safetensors"));
        List<TensorData> tensors = new ArrayList<>();
        for (String n : st.names()) {
            tensors.add(st.read(n));
        }
        Files.write(rewritten.resolve("model.safetensors"),
                SafetensorsFiles.write(tensors, n -> n.equals("model.embed_tokens.weight")));
        assertThat(Safetensors.open(rewritten.resolve("model.safetensors")).mappedBfloat16("model.embed_tokens.weight"))
                .isNotNull();
        JsonObject ref = ReferenceFiles.json("reference/models-next/" + name + "/reference.json");
        try (TransformerLM f32 = ModelLoader.load(original, "cpu", "bfloat16", threads);
                TransformerLM mapped = ModelLoader.load(rewritten, "cpu", "bfloat16", threads);
                NDManager step = NDManager.newBaseManager()) {
            for (JsonElement e : ref.getAsJsonArray("prompts")) {
                int[] ids = BaseModelReferenceTest.ints(e.getAsJsonObject().getAsJsonArray("ids"));
                try (KvCache a = f32.newCache(1, ids.length); KvCache b = mapped.newCache(1, ids.length)) {
                    float[] want = f32.prefill(step, new int[][] {ids}, new int[] {0}, a, BlockHook.NONE)
                            .toFloatArray();
                    float[] got = mapped.prefill(step, new int[][] {ids}, new int[] {0}, b, BlockHook.NONE)
                            .toFloatArray();
                    assertThat(got).as("%s: logits of %s", name, e.getAsJsonObject().get("name")).isEqualTo(want);
                }
            }
        }
    }

    @Test
    void refusesBfloat16ForGpt2AndUnknownDtypesInOneLine() {
        assertThatThrownBy(() -> ModelLoader.load(ReferenceFiles.resource("reference/tiny/gpt2"), "cpu",
                "bfloat16")).isInstanceOf(CheckpointException.class)
                .hasMessage("reft.model.dtype bfloat16 is supported for the Llama family only, not GPT2; use float32");
        assertThatThrownBy(() -> ModelLoader.load(ReferenceFiles.resource("reference/tiny/gpt2"), "cpu", "int8"))
                .hasMessage("unknown reft.model.dtype 'int8' (supported: auto, float32, bfloat16, float16)");
    }
}

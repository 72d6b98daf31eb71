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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** {@code reft.model.dtype=bfloat16}: weights in bfloat16, the rest in float32, close to transformers' fp32 logits. */
class Bfloat16WeightsTest {

    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "gemma2,2", "gemma2,1", "phi3,1", "qwen3,2", "mistral-sliding,1",
        "variants/llama-biases,2", "variants/gemma,2", "variants/gemma3,2", "variants/smollm3,2",
        "variants/granite,2", "variants/granite,1"})
    void logitsStayWithinBfloat16RoundingOfTheFloat32Reference(String name, int threads) {
        String dir = "reference/" + (name.contains("/") ? name : "models-next/" + name);
        Safetensors logits = ReferenceFiles.tensors(dir + "/logits.safetensors");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "bfloat16", threads);
                NDManager step = NDManager.newBaseManager()) {
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

    @Test
    void refusesBfloat16ForGpt2AndUnknownDtypesInOneLine() {
        assertThatThrownBy(() -> ModelLoader.load(ReferenceFiles.resource("reference/tiny/gpt2"), "cpu",
                "bfloat16")).isInstanceOf(CheckpointException.class)
                .hasMessage("reft.model.dtype bfloat16 is supported for the Llama family only, not GPT2; use float32");
        assertThatThrownBy(() -> ModelLoader.load(ReferenceFiles.resource("reference/tiny/gpt2"), "cpu", "int8"))
                .hasMessage("unknown reft.model.dtype 'int8' (supported: auto, float32, bfloat16, float16)");
    }
}

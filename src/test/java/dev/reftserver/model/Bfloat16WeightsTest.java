package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.Safetensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
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
        writeWithBfloat16(st, "model.embed_tokens.weight", rewritten.resolve("model.safetensors"));
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

    /** {@code st} rewritten to {@code to} with {@code bf16} stored as BF16 (rounded to nearest even), the rest F32. */
    private static void writeWithBfloat16(Safetensors st, String bf16, Path to) throws IOException {
        JsonObject header = new JsonObject();
        List<byte[]> data = new ArrayList<>();
        long offset = 0;
        for (String n : st.names()) {
            float[] v = st.read(n).data();
            boolean half = n.equals(bf16);
            ByteBuffer b = ByteBuffer.allocate(v.length * (half ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : v) {
                if (half) {
                    int bits = Float.floatToRawIntBits(x);
                    b.putShort((short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
                } else {
                    b.putFloat(x);
                }
            }
            JsonObject t = new JsonObject();
            t.addProperty("dtype", half ? "BF16" : "F32");
            JsonArray shape = new JsonArray();
            for (long d : st.shape(n)) {
                shape.add(d);
            }
            t.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offset += b.capacity();
            offsets.add(offset);
            t.add("data_offsets", offsets);
            header.add(n, t);
            data.add(b.array());
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = Files.newOutputStream(to)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            out.write(json);
            for (byte[] d : data) {
                out.write(d);
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

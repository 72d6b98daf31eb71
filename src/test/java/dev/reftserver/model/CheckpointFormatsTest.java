package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.LazyTensor;
import dev.reftserver.model.checkpoint.Llama2cReader;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.model.checkpoint.SafetensorsFiles;
import dev.reftserver.model.checkpoint.TensorData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HF directory path for stories15M, and one clear start-up failure per kind of bad checkpoint. */
class CheckpointFormatsTest {

    @TempDir
    Path tmp;

    /** Writes stories15M as an HF dir: the reference config.json plus safetensors of the converted weights. */
    private Path stories15mHfDir() throws IOException {
        Checkpoint l2c = Llama2cReader.read(ReferenceFiles.stories15m());
        Path dir = tmp.resolve("stories15m-hf");
        Files.createDirectories(dir);
        Files.copy(ReferenceFiles.resource("reference/stories15m-hf/config.json"), dir.resolve("config.json"));
        Files.write(dir.resolve("model.safetensors"), SafetensorsFiles.writeF32(
                l2c.tensors().values().stream().map(LazyTensor::read).toList()));
        return dir;
    }

    @Test
    void stories15mAsHuggingFaceDirectoryMatchesReferenceLogits() throws IOException {
        Path dir = stories15mHfDir();
        JsonObject first = ReferenceFiles.json("reference/base/base_reference.json").getAsJsonArray("prompts")
                .get(0).getAsJsonObject();
        int[] ids = BaseModelReferenceTest.ints(first.getAsJsonArray("ids"));
        float[] ref = ReferenceFiles.tensors("reference/base/base_reference_tensors.safetensors")
                .read(first.get("name").getAsString() + ".last_logits").data();
        try (TransformerLM model = ModelLoader.load(dir, "cpu", "float32");
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(1, 64)) {
            assertThat(model.config().tiedEmbeddings()).isTrue();
            float[] logits = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE)
                    .toFloatArray();
            assertThat(maxAbsDiff(logits, ref)).isLessThanOrEqualTo(1e-4f);
        }
    }

    @Test
    void truncatedSafetensorsFailsWithClearMessage() throws IOException {
        Path dir = stories15mHfDir();
        Path st = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(st);
        Files.write(st, Arrays.copyOf(all, all.length / 2));
        assertThatThrownBy(() -> ModelLoader.load(dir, "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("lies outside the file");
    }

    @Test
    void negativeThreadCountFailsWithClearMessage() {
        assertThatThrownBy(() -> ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32", -1))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("threads must be 0 (all cores) or more, not -1");
    }

    @Test
    void truncatedLlama2cCheckpointFailsWithClearMessage() throws IOException {
        byte[] all = Files.readAllBytes(ReferenceFiles.stories15m());
        Path bin = tmp.resolve("short.bin");
        Files.write(bin, Arrays.copyOf(all, 1_000_000));
        assertThatThrownBy(() -> ModelLoader.load(bin, "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("truncated llama2.c checkpoint");
    }

    @Test
    void wrongTensorShapeFailsNamingTheTensor() throws IOException {
        Path dir = copyTiny("mistral");
        Safetensors st = Safetensors.open(dir.resolve("model.safetensors"));
        List<TensorData> tensors = new ArrayList<>();
        for (String n : st.names()) {
            TensorData t = st.read(n);
            if (n.equals("model.layers.1.mlp.up_proj.weight")) {
                t = new TensorData(n, new long[] {64, 128}, t.data());
            }
            tensors.add(t);
        }
        Files.write(dir.resolve("model.safetensors"), SafetensorsFiles.writeF32(tensors));
        assertThatThrownBy(() -> ModelLoader.load(dir, "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.layers.1.mlp.up_proj.weight")
                .hasMessageContaining("[64, 128]")
                .hasMessageContaining("expected [128, 64]");
    }

    @Test
    void missingTensorFailsNamingIt() throws IOException {
        Path dir = copyTiny("qwen2");
        Safetensors st = Safetensors.open(dir.resolve("model.safetensors"));
        List<TensorData> tensors = new ArrayList<>();
        for (String n : st.names()) {
            if (!n.equals("model.layers.0.self_attn.k_proj.bias")) {
                tensors.add(st.read(n));
            }
        }
        Files.write(dir.resolve("model.safetensors"), SafetensorsFiles.writeF32(tensors));
        assertThatThrownBy(() -> ModelLoader.load(dir, "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("'model.layers.0.self_attn.k_proj.bias' is missing");
    }

    @Test
    void missingConfigKeyFailsNamingIt() throws IOException {
        Path dir = copyTiny("mistral");
        JsonObject cfg = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        cfg.remove("num_hidden_layers");
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        assertThatThrownBy(() -> ModelLoader.load(dir, "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("missing key 'num_hidden_layers'");
    }

    @Test
    void unknownArchitectureFailsNamingIt() throws IOException {
        Path dir = copyTiny("gpt2");
        JsonObject cfg = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        cfg.add("architectures", JsonParser.parseString("[\"FalconForCausalLM\"]"));
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        assertThatThrownBy(() -> ModelLoader.load(dir, "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("unsupported architecture 'FalconForCausalLM'");
    }

    @Test
    void missingModelPathPointsAtTheFetchScript() {
        assertThatThrownBy(() -> ModelLoader.load(tmp.resolve("nope.bin"), "cpu", "float32"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("does not exist")
                .hasMessageContaining("fetch-model.sh");
    }

    @Test
    void bf16AndF16TensorsAreWidenedToF32() {
        // 1.5 in bf16 = 0x3FC0, -2.0 in f16 = 0xC000: one tiny file per dtype written by hand below.
        byte[] bf16 = tinyFile("BF16", new byte[] {(byte) 0xC0, 0x3F});
        byte[] f16 = tinyFile("F16", new byte[] {0x00, (byte) 0xC0});
        assertThat(Safetensors.of(bf16, "bf16").read("x").data()).containsExactly(1.5f);
        assertThat(Safetensors.of(f16, "f16").read("x").data()).containsExactly(-2.0f);
    }

    private static byte[] tinyFile(String dtype, byte[] payload) {
        byte[] header = ("{\"x\":{\"dtype\":\"" + dtype + "\",\"shape\":[1],\"data_offsets\":[0,2]}}")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var buf = java.nio.ByteBuffer.allocate(8 + header.length + 2).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        buf.putLong(header.length).put(header).put(payload);
        return buf.array();
    }

    private Path copyTiny(String arch) throws IOException {
        Path src = ReferenceFiles.resource("reference/tiny/" + arch);
        Path dir = tmp.resolve(arch);
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(src.resolve(f), dir.resolve(f));
        }
        return dir;
    }
}

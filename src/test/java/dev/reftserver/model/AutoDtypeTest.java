package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code reft.model.dtype=auto}: the checkpoint's dtype where the device computes it well. */
class AutoDtypeTest {

    @Test
    void aBfloat16LlamaCheckpointStaysBfloat16WhereTheDeviceComputesIt() {
        assertThat(AutoDtype.choose("bfloat16", true, false, true)).isEqualTo("bfloat16");
        assertThat(AutoDtype.choose("bfloat16", true, true, true)).isEqualTo("bfloat16");
        // a CPU without bfloat16 instructions, a GPU before compute capability 8.0, GPT-2 (float32 or float16 only)
        assertThat(AutoDtype.choose("bfloat16", true, false, false)).isEqualTo("float32");
        assertThat(AutoDtype.choose("bfloat16", true, true, false)).isEqualTo("float16");
        assertThat(AutoDtype.choose("bfloat16", false, false, true)).isEqualTo("float32");
        assertThat(AutoDtype.choose("bfloat16", false, true, true)).isEqualTo("float16");
    }

    @Test
    void otherCheckpointsAreFloat32OnACpuAndFloat16OnAGpu() {
        for (String stored : new String[] {"float32", "float16"}) {
            assertThat(AutoDtype.choose(stored, true, false, true)).isEqualTo("float32");
            assertThat(AutoDtype.choose(stored, true, true, true)).isEqualTo("float16");
        }
    }

    @Test
    void theCheckpointsDtypeIsWhatConfigJsonNamesInEitherForm(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"torch_dtype\": \"bfloat16\"}");
        assertThat(AutoDtype.checkpointDtype(dir)).isEqualTo("bfloat16");
        Files.writeString(dir.resolve("config.json"), "{\"dtype\": \"float16\", \"torch_dtype\": \"bfloat16\"}");
        assertThat(AutoDtype.checkpointDtype(dir)).as("transformers 5's dtype first").isEqualTo("float16");
        Files.writeString(dir.resolve("config.json"), "{\"text_config\": {\"dtype\": \"bfloat16\"}}");
        assertThat(AutoDtype.checkpointDtype(dir)).as("a multimodal checkpoint's text model").isEqualTo("bfloat16");
        Files.writeString(dir.resolve("config.json"), "{\"hidden_size\": 8}");
        assertThat(AutoDtype.checkpointDtype(dir)).isEqualTo("float32");
        assertThat(AutoDtype.checkpointDtype(dir.resolve("model.bin"))).as("a llama2.c file").isEqualTo("float32");
    }

    @Test
    void cpuFlagsAreWholeWords() {
        String cpuinfo = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\nbogomips\t: 1\n";
        assertThat(AutoDtype.hasFlag(cpuinfo, "amx_bf16")).isTrue();
        assertThat(AutoDtype.hasFlag(cpuinfo, "amx")).isFalse();
        assertThat(AutoDtype.hasFlag("flags\t\t: fpu avx512f avx512_bf16\n", "amx_bf16")).isFalse();
    }

    @Test
    void bfloat16InstructionsAreAmxOrAvx512() {
        String sapphireRapids = "flags\t\t: fpu avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8\n";
        String zen4 = "flags\t\t: fpu avx512f avx512dq avx512_bf16 avx512vbmi avx512_vnni\n";
        String iceLake = "flags\t\t: fpu avx512f avx512dq avx512_vnni avx512_bitalg\n";
        assertThat(AutoDtype.bfloat16Instructions(sapphireRapids)).isEqualTo("AMX-BF16");
        assertThat(AutoDtype.bfloat16Instructions(zen4)).isEqualTo("AVX-512 BF16");
        assertThat(AutoDtype.bfloat16Instructions(iceLake)).isNull();
        assertThat(AutoDtype.bfloat16Instructions("")).as("no /proc/cpuinfo").isNull();
    }

    /** A bfloat16 config loads in bfloat16 here exactly when this CPU has AMX-BF16 or AVX-512 BF16; a float32 one in float32. */
    @Test
    void autoLoadsTheReferenceModelsAsTheirConfigsSay(@TempDir Path dir) throws IOException {
        Path f32 = ReferenceFiles.resource("reference/models-next/qwen3");
        try (TransformerLM model = ModelLoader.load(f32, "cpu", "auto")) {
            assertThat(model.weightDtype()).isEqualTo("float32");
        }
        for (String f : new String[] {"model.safetensors", "generation_config.json"}) {
            Files.copy(f32.resolve(f), dir.resolve(f));
        }
        String config = Files.readString(f32.resolve("config.json"))
                .replaceAll("\"(torch_)?dtype\": \"float32\",?", "");
        Files.writeString(dir.resolve("config.json"), config.replaceFirst("\\{", "{\"torch_dtype\": \"bfloat16\", "));
        assertThat(AutoDtype.checkpointDtype(dir)).isEqualTo("bfloat16");
        try (TransformerLM model = ModelLoader.load(dir, "cpu", "auto")) {
            assertThat(model.weightDtype()).isEqualTo(AutoDtype.cpuComputesBfloat16() ? "bfloat16" : "float32");
        }
    }
}

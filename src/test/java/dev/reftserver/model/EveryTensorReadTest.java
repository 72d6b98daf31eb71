package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.LazyTensor;
import dev.reftserver.model.gpt2.Gpt2Architecture;
import dev.reftserver.model.llama.LlamaArchitecture;
import dev.reftserver.model.ops.CpuTeam;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A checkpoint tensor the loader never reads is a computation the server leaves out (an o_proj bias once was): every
 * tensor of every reference checkpoint is read, and one the architecture has no place for is reported.
 */
class EveryTensorReadTest {

    @ParameterizedTest
    @ValueSource(strings = {"models-next/llama3-rope", "models-next/llama3-rope-v5config", "models-next/qwen3",
        "models-next/gemma2", "models-next/phi3", "models-next/mistral-sliding", "rope-scaling/phi3-longrope",
        "rope-scaling/qwen2-yarn", "rope-scaling/llama-yarn-v5config", "variants/llama-biases", "variants/gemma",
        "variants/gemma3", "variants/gemma3-vlm", "variants/smollm3", "variants/granite",
        "tiny/qwen2", "tiny/mistral", "tiny/gpt2", "stories15M"})
    void theLoaderReadsEveryTensor(String name) {
        Path path = name.equals("stories15M") ? ReferenceFiles.stories15m()
                : ReferenceFiles.resource("reference/" + name);
        Checkpoint ckpt = ModelLoader.read(path);
        build(ckpt);
        assertThat(ckpt.unread()).as(name).isEmpty();
    }

    @Test
    void aTensorTheArchitectureHasNoPlaceForIsReported() {
        Checkpoint plain = ModelLoader.read(ReferenceFiles.resource("reference/models-next/qwen3"));
        Map<String, LazyTensor> tensors = new LinkedHashMap<>(plain.tensors());
        LazyTensor norm = tensors.get("model.layers.0.input_layernorm.weight");
        tensors.put("model.layers.0.self_attn.sinks", new LazyTensor("model.layers.0.self_attn.sinks",
                norm.shape(), norm.values(), norm.stored(), norm.rows(), norm.mapped()));
        Checkpoint extra = new Checkpoint(plain.config(), tensors, plain.source());
        build(extra);
        assertThat(extra.unread()).containsExactly("model.layers.0.self_attn.sinks");
    }

    private static void build(Checkpoint ckpt) {
        try (NDManager manager = NDManager.newBaseManager(); CpuTeam team = CpuTeam.of(2)) {
            Architecture arch = ckpt.config().architecture() == ModelConfig.Architecture.GPT2
                    ? new Gpt2Architecture(manager.newSubManager(), ckpt, DataType.FLOAT32, team)
                    : new LlamaArchitecture(manager.newSubManager(), ckpt, DataType.FLOAT32, team);
            arch.close();
        }
    }
}

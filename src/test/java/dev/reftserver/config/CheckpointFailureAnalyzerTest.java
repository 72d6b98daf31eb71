package dev.reftserver.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.checkpoint.CheckpointException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.BeanCreationException;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.core.io.support.SpringFactoriesLoader;

class CheckpointFailureAnalyzerTest {

    @Test
    void reportsAnUnsupportedArchitectureAsItsOneLineReason(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"FalconForCausalLM\"]}");
        CheckpointException cause = null;
        try {
            ModelLoader.load(dir, "cpu", "float32");
        } catch (CheckpointException e) {
            cause = e;
        }
        assertThat(cause).isNotNull();
        FailureAnalysis analysis = new CheckpointFailureAnalyzer()
                .analyze(new BeanCreationException("baseModel", "wrapped", cause));
        assertThat(analysis.getDescription()).isEqualTo("The base model could not be loaded: " + dir.resolve(
                "config.json") + ": unsupported architecture 'FalconForCausalLM' (supported: LlamaForCausalLM,"
                + " MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GemmaForCausalLM, Gemma2ForCausalLM,"
                + " Gemma3ForCausalLM, Gemma3ForConditionalGeneration,"
                + " Phi3ForCausalLM, SmolLM3ForCausalLM, GraniteForCausalLM,"
                + " GPT2LMHeadModel); set reft.model.path to a checkpoint of a supported kind");
        assertThat(analysis.getDescription()).doesNotContain("\n");
    }

    /** A KV cache dtype the model cannot keep stops start-up in one line, and the loaded model is closed. */
    @Test
    void reportsAKvCacheDtypeTheModelCannotKeepInOneLine() {
        Path qwen3 = dev.reftserver.model.ReferenceFiles.resource("reference/models-next/qwen3");
        CheckpointException cause = null;
        try {
            new EngineConfiguration().baseModel(new ModelProperties(qwen3.toString(), "cpu", "float32", null, 1, null,
                    "bfloat16"));
        } catch (CheckpointException e) {
            cause = e;
        }
        assertThat(cause).isNotNull();
        FailureAnalysis analysis = new CheckpointFailureAnalyzer()
                .analyze(new BeanCreationException("baseModel", "wrapped", cause));
        assertThat(analysis.getDescription()).isEqualTo("The base model could not be loaded: reft.model.kv-cache-dtype"
                + " bfloat16 needs bfloat16 weights; this model runs float32 weights with float32 activations; use"
                + " auto");
    }

    /** A value of the wrong JSON type, wherever HfConfig reads it, is a one-line refusal too, never a stack. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {
        "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, \"num_attention_heads\": 4,"
            + " \"num_hidden_layers\": 2, \"intermediate_size\": 64, \"vocab_size\": 100,"
            + " \"max_position_embeddings\": 64, \"num_key_value_heads\": \"two\"}",
        "{\"architectures\": [\"SmolLM3ForCausalLM\"], \"hidden_size\": 32, \"num_attention_heads\": 4,"
            + " \"num_hidden_layers\": 2, \"intermediate_size\": 64, \"vocab_size\": 100,"
            + " \"max_position_embeddings\": 64, \"no_rope_layers\": [\"yes\", {}]}",
        "{\"architectures\": [\"Gemma3ForConditionalGeneration\"], \"text_config\": {\"sliding_window\": {\"x\": 1}}}",
        "{\"architectures\": [\"GraniteForCausalLM\"], \"hidden_size\": 32, \"num_attention_heads\": 4,"
            + " \"num_hidden_layers\": 2, \"intermediate_size\": 64, \"vocab_size\": 100,"
            + " \"max_position_embeddings\": 64, \"residual_multiplier\": {\"x\": 1}}"})
    void reportsAValueOfTheWrongTypeInOneLine(String config, @TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), config);
        CheckpointException cause = null;
        try {
            ModelLoader.load(dir, "cpu", "float32");
        } catch (CheckpointException e) {
            cause = e;
        }
        assertThat(cause).as(config).isNotNull();
        FailureAnalysis analysis = new CheckpointFailureAnalyzer()
                .analyze(new BeanCreationException("baseModel", "wrapped", cause));
        assertThat(analysis.getDescription()).startsWith("The base model could not be loaded: " + dir.resolve(
                "config.json") + ": ").doesNotContain("\n");
    }

    @Test
    void isRegisteredWithSpringBoot() {
        // Other analyzers need a bean factory to be built; without one they are skipped here, not failed.
        assertThat(SpringFactoriesLoader.forDefaultResourceLocation()
                .load(org.springframework.boot.diagnostics.FailureAnalyzer.class,
                        SpringFactoriesLoader.FailureHandler.handleMessage((message, failure) -> { })))
                .anyMatch(a -> a instanceof CheckpointFailureAnalyzer);
    }
}

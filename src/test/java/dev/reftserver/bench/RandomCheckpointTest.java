package dev.reftserver.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.model.checkpoint.TensorData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

class RandomCheckpointTest {

    @TempDir
    Path dir;

    @Test
    void realShapesHaveThePublishedParameterCounts() {
        assertThat(count(RandomCheckpoint.shape("qwen2.5-0.5b"))).isEqualTo(494_032_768L);
        assertThat(count(RandomCheckpoint.shape("llama-3.2-1b"))).isEqualTo(1_235_814_400L);
        assertThat(count(RandomCheckpoint.shape("llama-3-8b"))).isEqualTo(8_030_261_248L);
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        assertThat(RandomCheckpoint.bf16(1f)).isEqualTo((short) 0x3F80);
        assertThat(RandomCheckpoint.bf16(Float.intBitsToFloat(0x3F808000))).isEqualTo((short) 0x3F80);
        assertThat(RandomCheckpoint.bf16(Float.intBitsToFloat(0x3F818000))).isEqualTo((short) 0x3F82);
        assertThat(RandomCheckpoint.bf16(Float.intBitsToFloat(0x3F808001))).isEqualTo((short) 0x3F81);
    }

    @Test
    void writtenSafetensorsReadBackAsBfloat16WithOnesForNormsAndSmallRandomWeights() throws Exception {
        Path file = dir.resolve("model.safetensors");
        RandomCheckpoint.writeSafetensors(file, List.of(
                new RandomCheckpoint.Tensor("a.weight", new long[] {300, 100}, false),
                new RandomCheckpoint.Tensor("norm.weight", new long[] {7}, true)), 1);
        Safetensors st = Safetensors.open(file);
        assertThat(st.dtype("a.weight")).isEqualTo("BF16");
        assertThat(st.shape("a.weight")).containsExactly(300, 100);
        assertThat(st.read("norm.weight").data()).containsOnly(1f);
        TensorData a = st.read("a.weight");
        double sq = 0;
        for (float v : a.data()) {
            sq += v * v;
        }
        assertThat(Math.sqrt(sq / a.data().length)).isBetween(0.019, 0.021);
    }

    @Test
    void tokenizerVocabularyIsPaddedToTheModelsWithItsOwnIdsKept() throws Exception {
        Path to = dir.resolve("tokenizer.json");
        RandomCheckpoint.writeTokenizer(Path.of("src/test/resources/reference/stories15m-hf/tokenizer.json"), to,
                32_005);
        JsonNode vocab = new ObjectMapper().readTree(to.toFile()).path("model").path("vocab");
        assertThat(vocab.size()).isEqualTo(32_005);
        assertThat(vocab.path("<x32004>").asInt()).isEqualTo(32_004);
        assertThat(vocab.path("▁hello").asInt()).isEqualTo(22172);
        assertThat(Files.size(to)).isPositive();
    }

    private static long count(RandomCheckpoint.Shape s) {
        return RandomCheckpoint.tensors(s).stream().mapToLong(RandomCheckpoint.Tensor::elements).sum();
    }
}

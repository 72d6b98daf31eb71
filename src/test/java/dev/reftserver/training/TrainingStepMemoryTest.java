package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.error.ServiceException;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.EmbeddedStore;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.http.HttpStatus;
import org.springframework.util.unit.DataSize;
import tools.jackson.databind.json.JsonMapper;

/**
 * A job whose largest update would need more memory than {@code reft.training.max-step-memory} is refused with a
 * 400 naming the setting, before it runs (an update on one 2,000-token example of the Qwen2.5-0.5B shape from layer
 * 0 would take about 30 GB); the same file with fewer rows per update, or later layers, fits.
 */
class TrainingStepMemoryTest {

    @TempDir
    Path tmp;

    @Test
    void aJobTooLargeForTheStepMemoryIsRefusedUpFront() throws Exception {
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
                EmbeddedStore store = new EmbeddedStore(tmp.resolve("store"))) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            // 8 examples of 186 tokens: an update from layer 0 needs about 440 MB for 8 rows, 55 MB for one; from
            // layer 5 (one block in the graph), 74 MB for 8 rows.
            StringBuilder lines = new StringBuilder();
            for (int i = 0; i < 8; i++) {
                lines.append("{\"prompt\": \"").append("Once upon a time there was a little dog. ".repeat(18))
                        .append("\", \"completion\": \" The end.\"}\n");
            }
            TrainingProperties props = new TrainingProperties(DataSize.ofMegabytes(1), 100, 10, 10000, 4, 64, 1.0,
                    "128MB", Duration.ofSeconds(60));
            TrainingFiles files = new TrainingFiles(store, props, new ChatPrompts(null, tokenizer), tokenizer,
                    "stories15M");
            FineTuningJobs jobs = UntrainableModelTest.jobs(model, store, props, files, "stories15M");
            try {
                TrainingFile file = files.upload("acme", "long.jsonl", "fine-tune",
                        lines.toString().getBytes(StandardCharsets.UTF_8));
                String job = """
                        {"model": "stories15M", "training_file": "%s", "method": {"type": "reft", "reft":
                         {"hyperparameters": {"layers": [%d], "rank": 2, "batch_size": %d, "max_steps": 1}}}}""";
                assertThatThrownBy(() -> jobs.create("acme", JsonMapper.builder().build().readTree(
                        job.formatted(file.id(), 0, 8)))).isInstanceOfSatisfying(ServiceException.class, e -> {
                            assertThat(e.status()).isEqualTo(HttpStatus.BAD_REQUEST);
                            assertThat(e.param()).isEqualTo("training_file");
                            assertThat(e.getMessage()).startsWith("a training update of 8 examples of up to ")
                                    .contains("from layer 0 on", "reft.training.max-step-memory");
                        });
                assertThat(jobs.list("acme")).isEmpty();
                assertThat(jobs.create("acme", JsonMapper.builder().build().readTree(
                        job.formatted(file.id(), 0, 1))).id()).startsWith("ftjob-");
                assertThat(jobs.create("acme", JsonMapper.builder().build().readTree(
                        job.formatted(file.id(), 5, 8))).id()).startsWith("ftjob-");
            } finally {
                jobs.close();
            }
        }
    }
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.engine.DeviceTimeShare;
import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleImporter;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TestModels;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.EmbeddedStore;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.UploadMetrics;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.http.HttpStatus;
import org.springframework.util.unit.DataSize;
import tools.jackson.databind.json.JsonMapper;

/**
 * A base model without a differentiable forward (every architecture served has one; here a stand-in that says so)
 * refuses a fine-tuning job when it is asked for, with a 400 naming the reason, instead of accepting it and failing once it
 * runs.
 */
class UntrainableModelTest {

    @TempDir
    Path tmp;

    @Test
    void aJobOnAModelThatCannotBeTrainedIsRefusedUpFront() throws Exception {
        Path dir = ReferenceFiles.resource("reference/models-next/qwen3");
        try (TransformerLM model = TestModels.untrainable(dir);
                EmbeddedStore store = new EmbeddedStore(tmp.resolve("store"))) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            TrainingProperties props = new TrainingProperties(DataSize.ofMegabytes(1), 100, 10, 10000, 4, 64, 1.0,
                    "0.25", Duration.ofSeconds(60));
            TrainingFiles files = new TrainingFiles(store, props, new ChatPrompts(null, tokenizer), tokenizer, "qwen3");
            FineTuningJobs jobs = jobs(model, store, props, files, "qwen3");
            try {
                TrainingFile file = files.upload("acme", "data.jsonl", "fine-tune",
                        TrainingReference.bytes("data.jsonl"));
                assertThat(model.training().untrainable()).isEqualTo("LLAMA has no differentiable forward");
                assertThatThrownBy(() -> jobs.create("acme", JsonMapper.builder().build().readTree("""
                        {"model": "qwen3", "training_file": "%s",
                         "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [1], "rank": 2}}}}"""
                        .formatted(file.id())))).isInstanceOfSatisfying(ServiceException.class, e -> {
                            assertThat(e.status()).isEqualTo(HttpStatus.BAD_REQUEST);
                            assertThat(e.param()).isEqualTo("model");
                            assertThat(e.getMessage()).isEqualTo("the base model 'qwen3' cannot be trained by this"
                                    + " server: LLAMA has no differentiable forward");
                        });
                assertThat(jobs.list("acme")).isEmpty();
            } finally {
                jobs.close();
            }
        }
    }

    /** The fine-tuning side of a server on {@code model} over {@code store}. */
    static FineTuningJobs jobs(TransformerLM model, EmbeddedStore store, TrainingProperties props, TrainingFiles files,
            String baseModel) {
        BundleImporter importer = new BundleImporter(BundleLimits.defaults());
        InterventionUploads uploads = new InterventionUploads(store, (zip, positions, share, template) ->
                importer.importZip(zip, model.config().shape(), positions, share, template),
                new UploadMetrics(new SimpleMeterRegistry()));
        return new FineTuningJobs(model, files, uploads, store, props, BundleLimits.defaults(), baseModel,
                new DeviceTimeShare(props.maxShare()));
    }
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Training on every block: for a LoReFT intervention after layer 0 of a tiny model of each family, the
 * loss of the training reference's batch (its 8 examples, right-padded) and its gradients with respect to W and b
 * equal what transformers computes with pyreft's edit as a hook (reference/architecture-training, made by
 * src/test/scripts/make_architecture_training.py): gradients that flow back through Qwen3's q/k norms, Gemma 2's
 * soft-caps, post norms and sliding windows, Phi-3's fused projections, Gemma 3's local RoPE, Granite's multipliers,
 * SmolLM3's layers without RoPE and GPT-2's LayerNorms, learned positions and attention scalings.
 */
class ArchitectureTrainingGradientsTest {

    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "qwen3,2", "gemma2,1", "gemma2,3", "phi3,1", "mistral-sliding,2", "gemma3,2",
        "granite,1", "smollm3,2", "gpt2-layer-scaled,1", "gpt2-layer-scaled,2", "gpt2-unscaled,2"})
    void lossAndGradientsAtTheInitMatchTransformers(String name, int threads) throws IOException {
        String dir = "reference/architecture-training/" + name;
        JsonObject ref = ReferenceFiles.json(dir + "/reference.json");
        TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.get("model").getAsString()), "cpu",
                "float32", threads)) {
            assertThat(model.training().untrainable()).isNull();
            BundleContents init = BundleContents.read(Files.readAllBytes(ReferenceFiles.resource(dir + "/bundle.zip")),
                    model.config().shape(), BundleLimits.defaults());
            try (TrainingRun run = TrainingRun.start(model, tokenizer, init, TrainingReference.data(),
                    TrainingReference.settings())) {
                TrainingRun.Evaluation eval = run.evaluate(run.batch(0), true);
                double loss = ref.get("loss").getAsDouble();
                assertThat(eval.loss()).as("%s loss", name).isCloseTo(loss, within(1e-5 * loss));
                List<Parameter> params = run.interventions().get(0).parameters();
                assertThat(params).extracting(Parameter::name).containsExactly("original", "weight", "bias");
                List<float[]> grads = eval.gradients().get(0);
                for (String which : List.of("weight", "bias")) {
                    float[] expected = floats(ref.getAsJsonArray("grad_" + which));
                    float[] got = grads.get(which.equals("weight") ? 1 : 2);
                    assertThat(ReferenceFiles.maxAbsDiff(got, expected)).as("%s grad %s", name, which)
                            .isLessThanOrEqualTo(2e-4f * TrainingReference.maxAbs(expected));
                }
            }
        }
    }

    private static float[] floats(JsonArray a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsFloat();
        }
        return out;
    }
}

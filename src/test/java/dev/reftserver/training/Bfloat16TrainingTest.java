package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TestModels;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.model.checkpoint.SafetensorsFiles;
import dev.reftserver.model.checkpoint.TensorData;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A model served with bfloat16 weights trains too (on a CPU its packed weights have no backward, so a step reads the
 * checkpoint's stored rows; laid out as on a GPU, it multiplies its own arrays): on every Llama-family block, the loss and the gradients at the init are those of
 * float32 within bfloat16's rounding (reference/architecture-training: transformers in float32), and the loss falls
 * over a few updates; a checkpoint stored in BF16 is read through its memory map and gives exactly what the same
 * values stored in float32 and rounded give.
 */
class Bfloat16TrainingTest {

    static final TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());

    @ParameterizedTest
    @CsvSource({"llama3-rope,2", "qwen3,1", "gemma2,2", "phi3,1", "mistral-sliding,2", "gemma3,1", "granite,2",
        "smollm3,1"})
    void lossAndGradientsAreFloat32sWithinBfloat16Rounding(String name, int threads) throws IOException {
        JsonObject ref = ReferenceFiles.json("reference/architecture-training/" + name + "/reference.json");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.get("model").getAsString()), "cpu",
                "bfloat16", threads)) {
            assertNearFloat32(name, ref, model);
        }
    }

    /**
     * The same with bfloat16 weights laid out as on a GPU (plain arrays, not packed): training multiplies the
     * served arrays themselves, run here on the CPU.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,2", "qwen3,1", "gemma2,1", "phi3,2", "granite,2"})
    void theGpuLayoutTrainsOnItsOwnArrays(String name, int threads) throws IOException {
        JsonObject ref = ReferenceFiles.json("reference/architecture-training/" + name + "/reference.json");
        try (TransformerLM model = TestModels.unpackedBfloat16(ReferenceFiles.resource(ref.get("model").getAsString()),
                threads)) {
            assertNearFloat32(name, ref, model);
        }
    }

    private static void assertNearFloat32(String name, JsonObject ref, TransformerLM model) throws IOException {
        assertThat(model.training().untrainable()).isNull();
        Path bundle = ReferenceFiles.resource("reference/architecture-training/" + name + "/bundle.zip");
        try (TrainingRun run = start(model, bundle)) {
            TrainingRun.Evaluation eval = run.evaluate(run.batch(0), true);
            double loss = ref.get("loss").getAsDouble();
            assertThat(eval.loss()).as("%s loss", name).isCloseTo(loss, within(1e-3 * loss));
            for (String which : List.of("weight", "bias")) {
                float[] want = floats(ref.getAsJsonArray("grad_" + which));
                float[] got = eval.gradients().get(0).get(which.equals("weight") ? 1 : 2);
                assertThat(cosine(got, want)).as("%s grad %s direction", name, which).isGreaterThan(0.99);
                assertThat(norm(got) / norm(want)).as("%s grad %s norm", name, which).isCloseTo(1.0, within(0.03));
            }
            for (int i = 0; i < 3; i++) {
                run.step();
            }
            assertThat(run.loss()).as("%s loss after 3 updates", name).isLessThan(eval.loss());
        }
    }

    @Test
    void weightsStoredInBfloat16AreReadThroughTheMapAndEqualRoundedFloat32s(@TempDir Path tmp) throws IOException {
        String dir = "reference/architecture-training/qwen3";
        Path original = ReferenceFiles.resource("reference/models-next/qwen3");
        Path rewritten = tmp.resolve("qwen3");
        Files.createDirectories(rewritten);
        Files.copy(original.resolve("config.json"), rewritten.resolve("config.json"));
        Safetensors st = Safetensors.open(original.resolve("model.safetensors"));
        List<TensorData> tensors = new ArrayList<>();
        for (String n : st.names()) {
            tensors.add(st.read(n));
        }
        // Every matrix in BF16 (the projections and the tied table), the norms in float32.
        Files.write(rewritten.resolve("model.safetensors"),
                SafetensorsFiles.write(tensors, n -> n.endsWith("proj.weight") || n.endsWith("embed_tokens.weight")));
        assertThat(Safetensors.open(rewritten.resolve("model.safetensors"))
                .mappedBfloat16("model.layers.1.mlp.down_proj.weight")).isNotNull();
        Path bundle = ReferenceFiles.resource(dir + "/bundle.zip");
        try (TransformerLM rounded = ModelLoader.load(original, "cpu", "bfloat16", 2);
                TransformerLM mapped = ModelLoader.load(rewritten, "cpu", "bfloat16", 2);
                TrainingRun a = start(rounded, bundle); TrainingRun b = start(mapped, bundle)) {
            TrainingRun.Evaluation want = a.evaluate(a.batch(0), true);
            TrainingRun.Evaluation got = b.evaluate(b.batch(0), true);
            assertThat(got.loss()).isEqualTo(want.loss());
            for (int i = 0; i < 3; i++) {
                assertThat(got.gradients().get(0).get(i)).isEqualTo(want.gradients().get(0).get(i));
            }
        }
    }

    /** The checkpoint is read again to train: a file gone since the model loaded fails the run with its reason. */
    @Test
    void aCheckpointGoneSinceLoadingFailsTrainingWithItsReason(@TempDir Path tmp) throws IOException {
        Path original = ReferenceFiles.resource("reference/models-next/qwen3");
        Path copy = tmp.resolve("qwen3");
        Files.createDirectories(copy);
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(original.resolve(f), copy.resolve(f));
        }
        try (TransformerLM model = ModelLoader.load(copy, "cpu", "bfloat16", 1)) {
            Files.delete(copy.resolve("model.safetensors"));
            Path bundle = ReferenceFiles.resource("reference/architecture-training/qwen3/bundle.zip");
            assertThatThrownBy(() -> {
                try (TrainingRun run = start(model, bundle)) {
                    run.evaluate(run.batch(0), true);
                }
            }).isInstanceOf(CheckpointException.class)
                    .hasMessage("cannot read " + copy.resolve("model.safetensors") + ": no such file");
        }
    }

    private static TrainingRun start(TransformerLM model, Path bundle) throws IOException {
        BundleContents init = BundleContents.read(Files.readAllBytes(bundle), model.config().shape(),
                BundleLimits.defaults());
        return TrainingRun.start(model, tokenizer, init, TrainingReference.data(), TrainingReference.settings());
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
        }
        return dot / (norm(a) * norm(b));
    }

    private static double norm(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }

    private static float[] floats(JsonArray a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsFloat();
        }
        return out;
    }
}

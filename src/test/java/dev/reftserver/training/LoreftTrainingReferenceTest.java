package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.google.gson.JsonObject;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The first updates of pyreft's LoReFT run on stories15M (reference/training/loreft-l1): same tokenized examples
 * and positions, same rotation basis, loss and gradients at the init, and weights after one update within the
 * reference's suggested float32 tolerances.
 */
class LoreftTrainingReferenceTest {

    static TransformerLM model;
    static TextTokenizer tokenizer;
    static final TrainingReference ref = new TrainingReference();

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static TrainingRun run() {
        BundleContents init = BundleContents.read(TrainingReference.bytes("init/bundle.zip"), model.config().shape(), BundleLimits.defaults());
        return TrainingRun.start(model, tokenizer, init, TrainingReference.data(), TrainingReference.settings());
    }

    @Test
    void examplesAreTokenizedWithLabelsAndPositionsAsPyreftDoes() {
        try (TrainingRun run = run()) {
            List<TrainingExample> examples = run.examples();
            assertThat(examples).hasSize(ref.examples().size());
            for (int i = 0; i < examples.size(); i++) {
                JsonObject e = ref.examples().get(i).getAsJsonObject();
                TrainingExample ex = examples.get(i);
                assertThat(ex.inputIds()).as("input ids %d", i)
                        .containsExactly(TrainingReference.ints(e.getAsJsonArray("input_ids")));
                assertThat(ex.labels()).as("labels %d", i)
                        .containsExactly(TrainingReference.ints(e.getAsJsonArray("labels")));
                int[] positions = run.bundle().positions().positions(
                        run.interventions().get(0).entry().applyTo(), ex.promptLength());
                assertThat(positions).as("positions %d", i).containsExactly(TrainingReference.ints(
                        e.getAsJsonArray("intervention_locations").get(0).getAsJsonArray()));
            }
        }
    }

    @Test
    void rotationBasisIsCompletedFromTheBundleAsTheReferenceDid() {
        Safetensors p = ReferenceFiles.tensors(TrainingReference.DIR + "init/parametrization.safetensors");
        try (TrainingRun run = run()) {
            TrainableIntervention iv = run.interventions().get(0);
            assertThat(ReferenceFiles.maxAbsDiff(iv.base(), p.read("int0.base").data())).isLessThanOrEqualTo(1e-7f);
            assertThat(iv.parameter(TrainableIntervention.X).value()).containsExactly(p.read("int0.original").data());
            // S(X0) = B0[:, :r] = the bundle's S0
            float[] r0 = TrainingReference.weights(0).read("int0.rotate").data();
            assertThat(ReferenceFiles.maxAbsDiff(iv.currentRotation(run.manager()), r0)).isLessThanOrEqualTo(1e-7f);
        }
    }

    @Test
    void lossAndGradientsAtTheInitMatchPyreft() {
        Safetensors w0 = TrainingReference.weights(0);
        try (TrainingRun run = run()) {
            TrainingRun.Evaluation eval = run.evaluate(run.batch(0), true);
            assertThat(eval.loss()).isCloseTo(ref.loss(0), within(1e-5 * ref.loss(0)));
            List<float[]> grads = eval.gradients().get(0);
            List<Parameter> params = run.interventions().get(0).parameters();
            assertThat(params).extracting(Parameter::name).containsExactly("original", "weight", "bias");
            for (int i = 0; i < params.size(); i++) {
                float[] expected = w0.read("int0.grad." + params.get(i).name()).data();
                assertThat(ReferenceFiles.maxAbsDiff(grads.get(i), expected)).as("grad %s", params.get(i).name())
                        .isLessThanOrEqualTo(2e-4f * TrainingReference.maxAbs(expected));
            }
            assertThat((double) AdamW.totalNorm(grads)).isCloseTo(ref.gradNorm(0), within(1e-4 * ref.gradNorm(0)));
        }
    }

    @Test
    void firstTwoUpdatesReproduceLossesAndWeights() {
        Safetensors w1 = TrainingReference.weights(1);
        try (TrainingRun run = run()) {
            TrainingRun.StepReport first = run.step();
            assertThat(first.step()).isEqualTo(1);
            assertThat(first.learningRate()).isEqualTo(4e-3);
            assertThat(first.loss()).isCloseTo(ref.loss(0), within(1e-5 * ref.loss(0)));
            TrainableIntervention iv = run.interventions().get(0);
            for (String name : List.of("original", "weight", "bias")) {
                Parameter p = iv.parameter(name);
                assertThat(ReferenceFiles.maxAbsDiff(p.value(), w1.read("int0." + name).data())).as(name)
                        .isLessThanOrEqualTo(1e-5f);
                assertThat(ReferenceFiles.maxAbsDiff(p.m(), w1.read("int0.adam.exp_avg." + name).data()))
                        .as("m of %s", name).isLessThanOrEqualTo(1e-5f);
            }
            assertThat(ReferenceFiles.maxAbsDiff(iv.currentRotation(run.manager()), w1.read("int0.rotate").data()))
                    .isLessThanOrEqualTo(1e-5f);
            TrainingRun.StepReport second = run.step();
            assertThat(second.learningRate()).isCloseTo(4e-3 * 29 / 30, within(1e-15));
            assertThat(second.loss()).isCloseTo(ref.loss(1), within(1e-4 * ref.loss(1)));
            assertThat(run.loss()).isCloseTo(ref.loss(2), within(1e-4 * ref.loss(2)));
        }
    }
}

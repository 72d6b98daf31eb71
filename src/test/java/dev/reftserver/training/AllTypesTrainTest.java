package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.PositionSpec;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every ReFT type trains from a fresh bundle: the loss falls over a few updates on the reference examples, the
 * result is a valid bundle (S still orthonormal), and untied {@code fN+lM} doubles the interventions as pyreft does.
 */
class AllTypesTrainTest {

    static TransformerLM model;
    static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"loreft", "direft", "nodireft", "noreft", "consreft", "lobireft"})
    void lossFallsAndTheResultIsAValidBundle(String type) {
        BundleContents init = InitialBundle.create(model.config().shape(), type, List.of(2, 4), 2,
                PositionSpec.parse("f1+l1"), false, 11);
        assertThat(init.interventions()).hasSize(4);
        List<String[]> data = TrainingReference.data().subList(0, 4);
        try (TrainingRun run = TrainingRun.start(model, tokenizer, init, data,
                new TrainingSettings(1e-2, 0.0, 4, 0, 1.0, 4, false, 0))) {
            double first = run.step().loss();
            while (!run.finished()) {
                run.step();
            }
            assertThat(run.loss()).as(type).isLessThan(first);
            BundleContents trained = run.bundle();
            byte[] zip = trained.toNativeZip(BundleLimits.defaults());
            BundleContents back = BundleContents.read(zip, model.config().shape(), BundleLimits.defaults());
            assertThat(back.interventions()).extracting(BundleContents.Entry::type).containsOnly(type);
            assertThat(back.interventions().get(0).tensors().get("bias").data())
                    .isNotEqualTo(init.interventions().get(0).tensors().get("bias").data());
        }
    }

    @Test
    void anUpdateWithANonFiniteLossOrGradientStopsBeforeItChangesAnything() {
        TrainingRun.requireFinite(1, 2.5, List.of(new float[] {0f, -1e30f}, new float[] {3f}));
        assertThatThrownBy(() -> TrainingRun.requireFinite(3, 2.5,
                List.of(new float[] {1f, Float.NaN}, new float[] {Float.POSITIVE_INFINITY})))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("update 3 stopped before changing the intervention: loss 2.5, 2 gradient values not"
                        + " finite (a lower learning_rate or max_grad_norm can help)");
        assertThatThrownBy(() -> TrainingRun.requireFinite(1, Double.NaN, List.of(new float[] {0f})))
                .hasMessageStartingWith("update 1 stopped before changing the intervention: loss NaN, 0 gradient");
    }

    @Test
    void freshBundlesRejectUnknownLayersAndRanksAtTheHiddenSize() {
        var shape = model.config().shape();
        assertThatThrownBy(() -> InitialBundle.create(shape, "loreft", List.of(6), 4, PositionSpec.parse("l1"),
                false, 0)).hasMessageContaining("layer 6");
        assertThatThrownBy(() -> InitialBundle.create(shape, "loreft", List.of(1), 288, PositionSpec.parse("l1"),
                false, 0)).hasMessageContaining("rank 288");
        assertThatThrownBy(() -> InitialBundle.create(shape, "bogus", List.of(1), 4, PositionSpec.parse("l1"),
                false, 0)).hasMessageContaining("unknown intervention type");
    }
}

package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleImporter;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.PositionSpec;
import dev.reftserver.intervention.PyreftExporter;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What training makes goes back to Python: a trained bundle of every type exports as a pyreft directory that the
 * importer, given the same positions and share_weights, turns back into the very same native bundle.
 */
class TrainedBundleExportTest {

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
    @CsvSource({"loreft, f1+l1, false", "direft, f1+l1, false", "nodireft, l2, false", "noreft, f1+l1, true",
        "consreft, f1+l1, false", "lobireft, f2, false"})
    void aTrainedBundleComesBackFromItsPyreftExportUnchanged(String type, String positions, boolean share) {
        BundleLimits limits = BundleLimits.defaults();
        BundleContents init = InitialBundle.create(model.config().shape(), type, List.of(2, 4), 2,
                PositionSpec.parse(positions), share, 5);
        byte[] trained;
        try (TrainingRun run = TrainingRun.start(model, tokenizer, init, TrainingReference.data().subList(0, 2),
                new TrainingSettings(1e-2, 0.0, 2, 0, 1.0, 2, false, 0))) {
            while (!run.finished()) {
                run.step();
            }
            trained = run.bundle().toNativeZip(limits);
        }

        byte[] back = new BundleImporter(limits).importZip(PyreftExporter.export(trained, limits),
                model.config().shape(), positions, share).nativeZip();

        assertThat(back).isEqualTo(trained);
    }
}

package dev.reftserver.training;

import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.TransformerLM;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** Tests on pyreft's reference run (reference/training/loreft-l1) with the reference test's model and tokenizer. */
abstract class ReferenceRunTestSupport {

    static final TrainingReference ref = new TrainingReference();

    @BeforeAll
    static void load() {
        LoreftTrainingReferenceTest.load();
    }

    @AfterAll
    static void close() {
        LoreftTrainingReferenceTest.close();
    }

    /** The reference run's first state with batches of {@code batchSize}. */
    static TrainingRun run(int batchSize) {
        TransformerLM model = LoreftTrainingReferenceTest.model;
        BundleContents init = BundleContents.read(TrainingReference.bytes("init/bundle.zip"), model.config().shape(),
                BundleLimits.defaults());
        TrainingSettings s = TrainingReference.settings();
        return TrainingRun.start(model, LoreftTrainingReferenceTest.tokenizer, init, TrainingReference.data(),
                new TrainingSettings(s.learningRate(), s.weightDecay(), s.steps(), s.warmupSteps(), s.maxGradNorm(),
                        batchSize, false, 0));
    }
}

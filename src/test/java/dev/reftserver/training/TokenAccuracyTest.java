package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.PositionSpec;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A training batch's mean token accuracy (OpenAI's {@code train_mean_token_accuracy}, TRL's
 * {@code mean_token_accuracy}): the share of its completion tokens that are the model's most likely next token.
 */
class TokenAccuracyTest extends ReferenceRunTestSupport {

    private static TransformerLM model() {
        return LoreftTrainingReferenceTest.model;
    }

    private static TextTokenizer tokenizer() {
        return LoreftTrainingReferenceTest.tokenizer;
    }

    /**
     * With a LoReFT whose edit is zero (W = R, b = 0: h + R^T(Wh + b - Rh) = h), the first update's accuracy is the
     * base model's, counted here from its logits at every position (the serving forward, not the training one),
     * example by example; so is the validation's over the same examples.
     */
    @Test
    void theFirstUpdatesAccuracyIsTheShareOfCompletionTokensTheModelPredicts() {
        BundleContents init = zeroEdit(List.of(2, 4));
        List<String[]> data = TrainingReference.data().subList(0, 4);
        int predicted = 0;
        int tokens = 0;
        try (NDManager step = NDManager.newBaseManager()) {
            for (String[] example : data) {
                TrainingExample ex = TrainingExample.of(tokenizer(), example[0], example[1]);
                int[] ids = ex.inputIds();
                int[] labels = ex.labels();
                float[] logits = model().logitsAllPositions(step, ids).toFloatArray();
                int vocab = model().config().vocabSize();
                for (int t = 0; t + 1 < ids.length; t++) {
                    if (labels[t + 1] == TrainingExample.IGNORE) {
                        continue;
                    }
                    predicted += argmax(logits, t * vocab, vocab) == labels[t + 1] ? 1 : 0;
                    tokens++;
                }
            }
        }
        double expected = (double) predicted / tokens;
        assertThat(expected).isStrictlyBetween(0.0, 1.0);
        List<TrainingExample> examples = new ArrayList<>();
        for (String[] example : data) {
            examples.add(TrainingExample.of(tokenizer(), example[0], example[1]));
        }
        try (TrainingRun run = TrainingRun.start(model(), init, examples,
                new TrainingSettings(1e-2, 0.0, 2, 0, 1.0, 4, false, 0))) {
            TrainingRun.Validation before = run.validation(examples.subList(0, 3));
            before.next(); // a batch of 4 takes the three at once
            TrainingRun.Validation rest = run.validation(examples.subList(3, 4));
            rest.next();
            TrainingRun.StepReport first = run.step();
            assertThat(first.accuracy()).isEqualTo(expected);
            long m = examples.subList(0, 3).stream().mapToLong(TrainingExample::labelTokens).sum();
            long n = examples.get(3).labelTokens();
            assertThat((before.accuracy() * m + rest.accuracy() * n) / (m + n)).isCloseTo(expected, within(1e-12));
        }
    }

    /**
     * A completion that is the model's own greedy continuation is predicted whole (accuracy 1); with its last token
     * changed, all but that one ((k - 1) / k).
     */
    @Test
    void theModelsOwnGreedyContinuationIsPredictedWhole() {
        BundleContents init = zeroEdit(List.of(3));
        int[] prompt = tokenizer().encode("Once upon a time");
        int k = 8;
        int[] ids = Arrays.copyOf(prompt, prompt.length + k);
        try (NDManager step = NDManager.newBaseManager()) {
            int vocab = model().config().vocabSize();
            for (int t = prompt.length; t < ids.length; t++) {
                float[] logits = model().logitsAllPositions(step, Arrays.copyOf(ids, t)).toFloatArray();
                ids[t] = argmax(logits, (t - 1) * vocab, vocab);
            }
        }
        try (TrainingRun run = TrainingRun.start(model(), init, List.of(new TrainingExample(ids, prompt.length)),
                new TrainingSettings(1e-2, 0.0, 1, 0, 1.0, 1, false, 0))) {
            TrainingRun.Validation whole = run.validation(List.of(new TrainingExample(ids, prompt.length)));
            whole.next();
            assertThat(whole.accuracy()).isEqualTo(1.0);
            int[] changed = ids.clone();
            changed[ids.length - 1] = ids[ids.length - 1] == 1 ? 2 : 1;
            TrainingRun.Validation one = run.validation(List.of(new TrainingExample(changed, prompt.length)));
            one.next();
            assertThat(one.accuracy()).isEqualTo((k - 1) / (double) k);
        }
    }

    /** A LoReFT bundle on {@code layers} whose edit is zero: W = R and b = 0, so h + R^T(Wh + b - Rh) = h. */
    private static BundleContents zeroEdit(List<Integer> layers) {
        BundleContents init = InitialBundle.create(model().config().shape(), "loreft", layers, 2,
                PositionSpec.parse("f1+l1"), true, 11);
        int d = model().config().hiddenSize();
        for (BundleContents.Entry e : init.interventions()) {
            float[] rotate = e.tensors().get("rotate").data();
            float[] weight = e.tensors().get("weight").data();
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < d; j++) {
                    weight[i * d + j] = rotate[j * 2 + i];
                }
            }
            Arrays.fill(e.tensors().get("bias").data(), 0f);
        }
        return init;
    }

    private static int argmax(float[] logits, int from, int n) {
        return ReferenceFiles.argmax(Arrays.copyOfRange(logits, from, from + n));
    }
}

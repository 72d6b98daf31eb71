package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * The whole 30-update reference run and its weight-decay variant (REFT_TRAINING_FULL=1; about a minute each on
 * two cores): every loss within 1e-4 relative, weights after 10 and 30 updates within 5e-4, and the trained bundle,
 * served by the engine, gives the reference's greedy generations on all 12 prompts.
 */
@EnabledIfEnvironmentVariable(named = "REFT_TRAINING_FULL", matches = "1")
class LoreftTrainingFullRunTest {

    static final TrainingReference ref = new TrainingReference();

    @Test
    void thirtyUpdatesReproduceLossesWeightsAndGenerations() throws Exception {
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32")) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            BundleContents init = BundleContents.read(TrainingReference.bytes("init/bundle.zip"),
                    model.config().shape(), BundleLimits.defaults());
            byte[] trained;
            try (TrainingRun run = TrainingRun.start(model, tokenizer, init, TrainingReference.data(),
                    TrainingReference.settings())) {
                double worstLoss = 0;
                long started = System.nanoTime();
                while (!run.finished()) {
                    TrainingRun.StepReport r = run.step();
                    double rel = Math.abs(r.loss() - ref.loss(r.step() - 1)) / ref.loss(r.step() - 1);
                    worstLoss = Math.max(worstLoss, rel);
                    if (r.step() == 10) {
                        assertWeights(run, 10);
                    }
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                double last = run.loss();
                worstLoss = Math.max(worstLoss, Math.abs(last - ref.loss(30)) / ref.loss(30));
                System.out.printf("full run: final loss %.6f (reference %.6f), max relative loss error %.3g,"
                        + " %.2f steps/s%n", last, ref.loss(30), worstLoss, 30 / seconds);
                assertThat(worstLoss).isLessThanOrEqualTo(1e-4);
                assertWeights(run, 30);
                trained = run.bundle().toNativeZip(BundleLimits.defaults());
            }
            assertGenerations(model, tokenizer, trained);
        }
    }

    /** The variant with weight decay 0.1 on W only (b and X never decay): its losses and final weights. */
    @Test
    void weightDecayOnTheLearnedSourceReproducesTheVariant() {
        com.google.gson.JsonObject variant = ref.json.getAsJsonObject("variants").getAsJsonObject("weight_decay");
        com.google.gson.JsonArray losses = variant.getAsJsonArray("losses");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32")) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            BundleContents init = BundleContents.read(TrainingReference.bytes("init/bundle.zip"),
                    model.config().shape(), BundleLimits.defaults());
            try (TrainingRun run = TrainingRun.start(model, tokenizer, init, TrainingReference.data(),
                    new TrainingSettings(4e-3, 0.1, 30, 0, 1.0, 8, false, 0))) {
                double worst = 0;
                while (!run.finished()) {
                    TrainingRun.StepReport r = run.step();
                    double expected = losses.get(r.step() - 1).getAsDouble();
                    worst = Math.max(worst, Math.abs(r.loss() - expected) / expected);
                }
                double expected = losses.get(30).getAsDouble();
                worst = Math.max(worst, Math.abs(run.loss() - expected) / expected);
                Safetensors w = ReferenceFiles.tensors(
                        TrainingReference.DIR + "variant_weight_decay/step_030.safetensors");
                TrainableIntervention iv = run.interventions().get(0);
                float wErr = ReferenceFiles.maxAbsDiff(iv.parameter("weight").value(), w.read("int0.weight").data());
                float rErr = ReferenceFiles.maxAbsDiff(iv.currentRotation(run.manager()), w.read("int0.rotate").data());
                System.out.printf("weight decay variant: max relative loss error %.3g, final W %.3g, R %.3g%n", worst,
                        wErr, rErr);
                assertThat(worst).isLessThanOrEqualTo(1e-4);
                assertThat(wErr).isLessThanOrEqualTo(5e-4f);
                assertThat(rErr).isLessThanOrEqualTo(5e-4f);
            }
        }
    }

    static void assertWeights(TrainingRun run, int step) {
        Safetensors w = TrainingReference.weights(step);
        TrainableIntervention iv = run.interventions().get(0);
        StringBuilder report = new StringBuilder("weights after " + step + " updates, max abs error:");
        for (String name : List.of("original", "weight", "bias")) {
            float err = ReferenceFiles.maxAbsDiff(iv.parameter(name).value(), w.read("int0." + name).data());
            report.append(' ').append(name).append(' ').append(err);
            assertThat(err).as("%s after %d", name, step).isLessThanOrEqualTo(5e-4f);
        }
        float err = ReferenceFiles.maxAbsDiff(iv.currentRotation(run.manager()), w.read("int0.rotate").data());
        report.append(" rotate ").append(err);
        System.out.println(report);
        assertThat(err).as("rotate after %d", step).isLessThanOrEqualTo(5e-4f);
    }

    static final class Collect implements GenerationListener {
        final StringBuilder text = new StringBuilder();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();

        @Override
        public void onText(String delta) {
            text.append(delta);
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            done.complete(reason);
        }
    }

    /** Served through the engine like any uploaded version: greedy, 32 tokens, prefill-only interventions. */
    static void assertGenerations(TransformerLM model, TextTokenizer tokenizer, byte[] bundle) throws Exception {
        EngineSettings settings = new EngineSettings(16, 256, 16 * 256, Duration.ofMinutes(2), Duration.ofSeconds(5));
        try (NDManager bundles = NDManager.newBaseManager();
                LoadedBundle loaded = LoadedBundle.load(bundle, model.config().shape(), BundleLimits.defaults(), bundles);
                Scheduler scheduler = new Scheduler(model, tokenizer, settings, EngineMetrics.standalone(), null)) {
            List<Generation> rows = new ArrayList<>();
            List<Collect> sinks = new ArrayList<>();
            List<String> expected = new ArrayList<>();
            for (var g : ref.generations()) {
                JsonObject gen = g.getAsJsonObject();
                int[] prompt = TrainingReference.ints(gen.getAsJsonArray("prompt_ids"));
                int[] ids = TrainingReference.ints(gen.getAsJsonObject("trained").getAsJsonArray("ids"));
                int[] full = new int[prompt.length + ids.length];
                System.arraycopy(prompt, 0, full, 0, prompt.length);
                System.arraycopy(ids, 0, full, prompt.length, ids.length);
                expected.add(tokenizer.decode(full).substring(tokenizer.decode(prompt).length()));
                Collect sink = new Collect();
                sinks.add(sink);
                rows.add(new Generation("t", prompt, SamplingParams.greedy(ids.length), loaded, sink,
                        TimeUnit.MINUTES.toNanos(2)));
            }
            scheduler.submit(rows);
            int same = 0;
            for (int i = 0; i < sinks.size(); i++) {
                sinks.get(i).done.get(2, TimeUnit.MINUTES);
                if (sinks.get(i).text.toString().equals(expected.get(i))) {
                    same++;
                }
            }
            System.out.println("trained bundle: " + same + " of " + sinks.size()
                    + " greedy generations equal the reference");
            for (int i = 0; i < sinks.size(); i++) {
                assertThat(sinks.get(i).text.toString()).as("generation %d", i).isEqualTo(expected.get(i));
            }
        }
    }
}

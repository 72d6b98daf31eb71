package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.LogprobsOptions;
import dev.reftserver.engine.Penalties;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * Composed interventions on stories15M with reference bundles A (LoReFT, layer 3, l1), B (LoReFT, layers 1/3/5,
 * f3+l3) and D (NodiReFT, layer 2, f2+l2), against a sequential Java reference: a hook that, after each block,
 * applies every listed bundle's interventions at that layer in order with {@link Intervention#apply}, each scaled
 * as h + s * (apply(h) - h). Batched with base rows and single-bundle rows.
 */
class CompositionTest {

    static TransformerLM model;
    static TextTokenizer tokenizer;
    static NDManager bundles;
    static LoadedBundle a;
    static LoadedBundle b;
    static LoadedBundle d;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
        bundles = NDManager.newBaseManager();
        a = load("A");
        b = load("B");
        d = load("D");
    }

    private static LoadedBundle load(String name) {
        JsonNode meta = Fixtures.json("reference/bundles/" + name + "/meta.json");
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults()).importZip(
                Fixtures.pyreftZip(name, name + "/"), model.config().shape(), meta.get("positions").asString(),
                meta.get("share_weights").asBoolean());
        return LoadedBundle.load(imported.nativeZip(), model.config().shape(), BundleLimits.defaults(), bundles);
    }

    @AfterAll
    static void close() {
        bundles.close();
        model.close();
    }

    /** The sequential reference for one row: plain per-position Java math, bundle after bundle. */
    record SequentialHook(List<ScaledBundle> members, int promptLength) implements BlockHook {
        @Override
        public NDArray afterBlock(int layer, NDArray hidden) {
            int tokens = (int) hidden.getShape().get(1);
            int dim = (int) hidden.getShape().get(2);
            float[] flat = hidden.toFloatArray();
            for (ScaledBundle sb : members) {
                ReftBundle bundle = sb.bundle().bundle();
                for (Intervention iv : bundle.interventions()) {
                    if (iv.layer() != layer) {
                        continue;
                    }
                    for (int pos : bundle.positions().positions(iv.applyTo(), promptLength)) {
                        float[] h = new float[dim];
                        System.arraycopy(flat, pos * dim, h, 0, dim);
                        float[] out = InterventionPlanTest.scaled(h, iv.apply(h), sb.scale());
                        System.arraycopy(out, 0, flat, pos * dim, dim);
                    }
                }
            }
            return hidden.getManager().create(flat, hidden.getShape());
        }
    }

    /** A row of the mixed batch: its prompt and its composition. */
    record Case(String what, String prompt, List<ScaledBundle> members) {
    }

    static List<Case> cases() {
        return List.of(
                new Case("A then B", "Once upon a time, there was a little girl who", List.of(
                        new ScaledBundle(a, 1f), new ScaledBundle(b, 1f))),
                new Case("base", "Once upon a time, there was a little girl who", List.of()),
                new Case("B then A", "Once upon a time, there was a little girl who", List.of(
                        new ScaledBundle(b, 1f), new ScaledBundle(a, 1f))),
                new Case("A alone", "The cat sat on the mat and", List.of(new ScaledBundle(a, 1f))),
                new Case("B negative, D, A doubled", "Tom and Sue went to the park to play", List.of(
                        new ScaledBundle(b, -0.5f), new ScaledBundle(d, 0.7f), new ScaledBundle(a, 2f))),
                new Case("B at scale 0", "Once upon a time, there was a little girl who", List.of(
                        new ScaledBundle(b, 0f))),
                new Case("D alone", "One day", List.of(new ScaledBundle(d, 1f))),
                new Case("base", "The cat sat on the mat and", List.of()));
    }

    static float[] referenceLogits(NDManager step, int[] ids, List<ScaledBundle> members) {
        try (KvCache cache = model.newCache(1, 256)) {
            return model.prefill(step, new int[][] {ids}, new int[] {0}, cache,
                    new SequentialHook(members, ids.length)).toFloatArray();
        }
    }

    static int[] referenceGreedy(int[] ids, List<ScaledBundle> members, int n) {
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, 256)) {
            int next = ReferenceFiles.argmax(model.prefill(step, new int[][] {ids}, new int[] {0}, cache,
                    new SequentialHook(members, ids.length)).toFloatArray());
            int[] out = new int[n];
            for (int s = 0; s < n; s++) {
                out[s] = next;
                try (NDManager sub = step.newSubManager()) {
                    next = ReferenceFiles.argmax(model.decode(sub, new int[] {next}, cache).toFloatArray());
                }
            }
            return out;
        }
    }

    @Test
    void batchedCompositionsGiveTheSequentialReferenceLogits() {
        List<Case> cases = cases();
        int n = cases.size();
        int[][] prompts = new int[n][];
        List<InterventionPlan.Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            prompts[i] = tokenizer.encode(cases.get(i).prompt());
            rows.add(new InterventionPlan.Row(cases.get(i).members(), prompts[i].length));
        }
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            slots[i] = i;
        }
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(n, 256)) {
            NDArray logits = model.prefill(step, prompts, slots, cache, new InterventionPlan(rows));
            float[][] got = new float[n][];
            for (int i = 0; i < n; i++) {
                got[i] = logits.get(new NDIndex("{}", i)).toFloatArray();
                float[] want = referenceLogits(step, prompts[i], cases.get(i).members());
                assertThat(ReferenceFiles.maxAbsDiff(got[i], want)).as(cases.get(i).what()).isLessThanOrEqualTo(1e-4f);
            }
            assertThat(got[5]).as("scale 0 is the base model, bit for bit").containsExactly(got[1]);
            assertThat(ReferenceFiles.maxAbsDiff(got[0], got[1])).as("A then B moves the logits").isGreaterThan(1e-2f);
            assertThat(ReferenceFiles.maxAbsDiff(got[0], got[2])).as("order matters where A and B meet")
                    .isGreaterThan(1e-4f);
        }
    }

    /** Collects one row's generated ids (through its log-probabilities) and how it finished. */
    static final class Ids implements GenerationListener {
        final List<Integer> ids = new ArrayList<>();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();

        @Override
        public void onText(String delta) {
        }

        @Override
        public void onTokenLogprobs(TokenLogprobs token) {
            ids.add(token.id());
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            done.complete(reason);
        }
    }

    @Test
    void engineRowsWithCompositionsGenerateTheReferenceGreedyTokens() throws Exception {
        int tokens = 16;
        EngineSettings settings = new EngineSettings(16, 256, 16 * 256, Duration.ofMinutes(2), Duration.ofSeconds(5));
        List<Case> cases = cases();
        List<Ids> sinks = new ArrayList<>();
        List<Generation> rows = new ArrayList<>();
        try (Scheduler scheduler = new Scheduler(model, tokenizer, settings, EngineMetrics.standalone(), null)) {
            for (Case c : cases) {
                Ids sink = new Ids();
                sinks.add(sink);
                rows.add(new Generation("t", tokenizer.encode(c.prompt()), SamplingParams.greedy(tokens),
                        Penalties.NONE, new LogprobsOptions(0, false), c.members(), null, sink,
                        TimeUnit.MINUTES.toNanos(2)));
            }
            scheduler.submit(rows);
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                assertThat(sinks.get(i).done.get(2, TimeUnit.MINUTES)).isEqualTo(FinishReason.LENGTH);
                int[] want = referenceGreedy(tokenizer.encode(c.prompt()), c.members(), tokens);
                assertThat(sinks.get(i).ids).as(c.what()).containsExactly(
                        java.util.Arrays.stream(want).boxed().toArray(Integer[]::new));
            }
            assertThat(sinks.get(5).ids).as("scale 0 generates the base row's tokens").isEqualTo(sinks.get(1).ids);
            assertThat(sinks.get(0).ids).as("the composition changes the text").isNotEqualTo(sinks.get(1).ids);
        }
    }
}

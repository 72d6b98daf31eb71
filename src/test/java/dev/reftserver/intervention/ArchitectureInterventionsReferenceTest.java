package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;

/**
 * A bundle of four interventions of four types (LoReFT, DiReFT, NodiReFT, NoReFT; linear, ReLU and GELU
 * activations) at the first and the last block of a model of each supported family, against transformers with the
 * same edits applied as pyreft applies them: at each decoder layer's output, at the first two and the last two
 * prompt positions, during the prefill only (reference/architecture-interventions, made by
 * src/test/scripts/make_architecture_interventions.py on the models of reference/models-next, tiny and variants).
 * For every prompt (1 to 316 tokens: past the sliding windows; a 2-token prompt edits one position in each group):
 * the last-position logits at 64 ids within 1e-4 and 12 greedy ids exactly through the KV cache, each prompt alone
 * and all of them as one batch of uneven rows; and every edit reaches the logits. With bfloat16 weights, within
 * bfloat16's rounding.
 */
class ArchitectureInterventionsReferenceTest {

    private static final float LOGITS_ABS = 1e-4f;

    record Prompt(String name, int[] ids, int[] greedy, int[] logitIds, float[] logits, float effect) {
    }

    @ParameterizedTest
    @CsvSource({"llama3-rope,1", "llama3-rope,2", "qwen3,2", "gemma2,1", "gemma2,3", "phi3,2", "mistral-sliding,2",
        "gpt2,1", "gpt2,2", "qwen2,2", "granite,2", "gemma3,2"})
    void everyArchitectureAppliesTheBundleAsPyreftDoes(String name, int threads) {
        JsonNode ref = Fixtures.json("reference/architecture-interventions/" + name + "/reference.json");
        List<Prompt> prompts = prompts(ref);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.get("model").asString()), "cpu",
                "float32", threads);
                NDManager manager = NDManager.newBaseManager()) {
            try (LoadedBundle bundle = bundle(name, model, manager)) {
                for (Prompt p : prompts) {
                    // The reference's edits are not small: a wrong position, layer or formula shows.
                    assertThat(p.effect()).as("%s/%s edit effect", name, p.name()).isGreaterThan(1e-3f);
                    int[][] got = generate(model, manager, List.of(p), bundle);
                    assertThat(got[0]).as("%s/%s greedy", name, p.name()).containsExactly(p.greedy());
                }
                int[][] batched = generate(model, manager, prompts, bundle);
                for (int i = 0; i < prompts.size(); i++) {
                    Prompt p = prompts.get(i);
                    assertThat(Arrays.copyOf(batched[i], p.greedy().length)).as("%s/%s batched greedy", name, p.name())
                            .containsExactly(p.greedy());
                }
            }
        }
    }

    /**
     * The same bundles on models served with bfloat16 weights: each prompt's last-position logits at the 64 ids stay
     * within bfloat16's rounding of transformers' float32 ones (a few percent of the largest, as
     * {@code Bfloat16WeightsTest} allows the base model), and the edits still move them as far as in float32.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,2", "qwen3,1", "gemma2,2", "phi3,1", "mistral-sliding,2", "granite,2", "gemma3,1"})
    void bfloat16WeightsApplyTheBundleWithinTheirRounding(String name, int threads) {
        JsonNode ref = Fixtures.json("reference/architecture-interventions/" + name + "/reference.json");
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.get("model").asString()), "cpu",
                "bfloat16", threads);
                NDManager manager = NDManager.newBaseManager()) {
            try (LoadedBundle bundle = bundle(name, model, manager)) {
                for (Prompt p : prompts(ref)) {
                    float[] edited;
                    float[] base;
                    try (NDManager step = manager.newSubManager(); KvCache cache = model.newCache(2, p.ids().length)) {
                        InterventionPlan plan = new InterventionPlan(List.of(
                                new InterventionPlan.Row(bundle, p.ids().length),
                                new InterventionPlan.Row((LoadedBundle) null, p.ids().length)));
                        float[] both = model.prefill(step, new int[][] {p.ids(), p.ids()}, new int[] {0, 1}, cache,
                                plan).toFloatArray();
                        int vocab = model.config().vocabSize();
                        edited = Arrays.copyOfRange(both, 0, vocab);
                        base = Arrays.copyOfRange(both, vocab, 2 * vocab);
                    }
                    float largest = 0;
                    float worst = 0;
                    for (int k = 0; k < p.logitIds().length; k++) {
                        largest = Math.max(largest, Math.abs(p.logits()[k]));
                        worst = Math.max(worst, Math.abs(edited[p.logitIds()[k]] - p.logits()[k]));
                    }
                    assertThat(worst / largest).as("%s/%s logits", name, p.name()).isLessThan(0.05f);
                    assertThat(ReferenceFiles.maxAbsDiff(edited, base)).as("%s/%s edit effect", name, p.name())
                            .isGreaterThan(0.5f * p.effect());
                }
            }
        }
    }

    /**
     * Prefills {@code prompts} as one batch with {@code bundle} on every row, checks each row's last-position
     * logits, then decodes greedily without interventions: each row's ids (rows that end early run on).
     */
    private static int[][] generate(TransformerLM model, NDManager manager, List<Prompt> prompts,
            LoadedBundle bundle) {
        int n = prompts.size();
        int steps = prompts.stream().mapToInt(p -> p.greedy().length).max().orElseThrow();
        int longest = prompts.stream().mapToInt(p -> p.ids().length).max().orElseThrow();
        int[][] ids = new int[n][];
        int[] slots = new int[n];
        List<InterventionPlan.Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids[i] = prompts.get(i).ids();
            slots[i] = i;
            rows.add(new InterventionPlan.Row(bundle, ids[i].length));
        }
        int vocab = model.config().vocabSize();
        int[][] got = new int[n][steps];
        try (NDManager step = manager.newSubManager(); KvCache cache = model.newCache(n, longest + steps)) {
            float[] logits = model.prefill(step, ids, slots, cache, new InterventionPlan(rows)).toFloatArray();
            int[] next = new int[n];
            for (int i = 0; i < n; i++) {
                Prompt p = prompts.get(i);
                float[] row = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
                float worst = 0;
                for (int k = 0; k < p.logitIds().length; k++) {
                    worst = Math.max(worst, Math.abs(row[p.logitIds()[k]] - p.logits()[k]));
                }
                assertThat(worst).as("%s logits (%d rows)", p.name(), n).isLessThanOrEqualTo(LOGITS_ABS);
                next[i] = ReferenceFiles.argmax(row);
            }
            for (int s = 0; s < steps; s++) {
                for (int i = 0; i < n; i++) {
                    got[i][s] = next[i];
                }
                if (s < steps - 1) {
                    try (NDManager sub = step.newSubManager()) {
                        float[] all = model.decode(sub, next, cache).toFloatArray();
                        for (int i = 0; i < n; i++) {
                            next[i] = ReferenceFiles.argmax(Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab));
                        }
                    }
                }
            }
        }
        if (n == 1) {
            got[0] = Arrays.copyOf(got[0], prompts.get(0).greedy().length);
        }
        return got;
    }

    /** The reference's bundle for {@code name}, imported as an upload is and loaded for {@code model}. */
    private static LoadedBundle bundle(String name, TransformerLM model, NDManager manager) {
        byte[] zip = Fixtures.resource("reference/architecture-interventions/" + name + "/bundle.zip");
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults())
                .importZip(zip, model.config().shape(), null, null);
        return LoadedBundle.load(imported.nativeZip(), model.config().shape(), BundleLimits.defaults(), manager);
    }

    private static List<Prompt> prompts(JsonNode ref) {
        List<Prompt> out = new ArrayList<>();
        for (JsonNode p : ref.get("prompts")) {
            JsonNode values = p.get("logits");
            float[] logits = new float[values.size()];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) values.get(i).asDouble();
            }
            out.add(new Prompt(p.get("name").asString(), ReferenceBundleGenerationTest.ints(p.get("ids")),
                    ReferenceBundleGenerationTest.ints(p.get("greedy")),
                    ReferenceBundleGenerationTest.ints(p.get("logit_ids")), logits,
                    (float) p.get("max_edit_effect").asDouble()));
        }
        return out;
    }
}

package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.ModelsNextReferenceTest.Prompt;
import dev.reftserver.model.ModelsNextReferenceTest.Reference;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.llama.LlamaArchitecture;
import dev.reftserver.model.ops.CpuTeam;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * New rows prefilled in the same forward pass as the running rows' decode step ({@link CausalLM#prefillAndDecode},
 * {@link StepBatch#mixed}), as the engine runs rows that join a running batch: against transformers (the reference
 * files of {@link ModelsNextReferenceTest}), every row's first logits within 1e-4 and its 16 greedy ids exact,
 * whichever step it joined at and whoever ran beside it; and the same numbers as the prefill and the decode step run
 * one after the other.
 */
class MixedStepTest {

    private static final float LOGITS_ABS = 1e-4f;

    /**
     * The first prompt prefilled alone, then at each step the next two or one prompts (alternately) join through a
     * mixed step while every row already in decodes: rows at different positions, prefill rows padded to the longer
     * of two, prompts past the sliding windows, longrope's per-row factors and its rebuild at the original context.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope,2", "qwen3,1", "gemma2,2", "phi3,1", "mistral-sliding,2", "rope-scaling/phi3-longrope,1",
        "variants/gemma3,2", "variants/smollm3,1", "variants/granite,2", "variants/gpt2-layer-scaled,2"})
    void rowsJoiningARunningBatchMatchTransformers(String name, int threads) {
        Reference ref = Reference.of(name);
        int n = ref.prompts().size();
        int longest = ref.prompts().stream().mapToInt(p -> p.ids().length).max().orElseThrow();
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", threads);
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(n, longest + 16 + n)) {
            int vocab = model.config().vocabSize();
            List<List<Integer>> got = new ArrayList<>();
            float[] first = model.prefill(step, new int[][] {ref.prompts().get(0).ids()}, new int[] {0}, cache,
                    BlockHook.NONE).toFloatArray();
            checkFirst(ref, 0, first);
            got.add(new ArrayList<>(List.of(argmax(first))));
            int joined = 1;
            int mixedSteps = 0;
            while (joined < n || got.stream().anyMatch(g -> g.size() < 16)) {
                int running = joined;
                int joining = Math.min(n - joined, mixedSteps % 2 == 0 ? 2 : 1);
                try (NDManager sub = step.newSubManager()) {
                    int[] tokens = new int[running];
                    for (int i = 0; i < running; i++) {
                        List<Integer> fed = got.get(i);
                        tokens[i] = fed.get(fed.size() - 1);
                        ModelsNextReferenceTest.rebuildIfDue(model, sub, cache, i, ref.prompts().get(i).ids(), fed);
                    }
                    float[] all;
                    if (joining > 0) {
                        int[][] prompts = new int[joining][];
                        int[] slots = new int[joining];
                        for (int j = 0; j < joining; j++) {
                            prompts[j] = ref.prompts().get(joined + j).ids();
                            slots[j] = joined + j;
                        }
                        all = model.prefillAndDecode(sub, prompts, slots, cache, BlockHook.NONE, tokens)
                                .toFloatArray();
                        mixedSteps++;
                    } else {
                        all = model.decode(sub, tokens, cache).toFloatArray();
                    }
                    for (int j = 0; j < joining; j++) {
                        float[] row = Arrays.copyOfRange(all, j * vocab, (j + 1) * vocab);
                        checkFirst(ref, joined + j, row);
                        got.add(new ArrayList<>(List.of(argmax(row))));
                    }
                    for (int i = 0; i < running; i++) {
                        int at = (joining + i) * vocab;
                        got.get(i).add(argmax(Arrays.copyOfRange(all, at, at + vocab)));
                    }
                    joined += joining;
                }
            }
            assertThat(mixedSteps).isGreaterThanOrEqualTo(n / 2);
            for (int i = 0; i < n; i++) {
                Prompt p = ref.prompts().get(i);
                // A row that ended at EOS runs on in the batch; its ids up to and including the EOS must match.
                int[] ids = got.get(i).stream().mapToInt(Integer::intValue).limit(p.greedy().length).toArray();
                assertThat(ids).as("%s/%s greedy, row %d to join", name, p.name(), i)
                        .containsExactly(p.greedy());
            }
        }
    }

    private static void checkFirst(Reference ref, int i, float[] logits) {
        Prompt p = ref.prompts().get(i);
        assertThat(maxAbsDiff(logits, ref.logits(p.name()))).as("%s/%s first logits", ref.dir(), p.name())
                .isLessThanOrEqualTo(LOGITS_ABS);
    }

    /**
     * In a mixed step the hook sees the prefill's rows only, shaped [rows, tokens, hidden] as in a prefill of its
     * own, and its edits reach those rows' logits, not the decode rows': each row's logits are those of the prefill
     * and the decode step run apart.
     */
    @Test
    void theHookSeesOnlyThePrefillRowsAndTheirEditsStayThere() {
        Reference ref = Reference.of("qwen3");
        int[] a = ref.prompts().get(0).ids();
        int[] b = ref.prompts().get(1).ids();
        int[] c = ref.prompts().get(2).ids();
        int longest = Math.max(a.length, Math.max(b.length, c.length));
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", 2);
                NDManager step = NDManager.newBaseManager()) {
            int d = model.config().hiddenSize();
            List<long[]> shapes = new ArrayList<>();
            BlockHook shift = (layer, hidden) -> {
                shapes.add(hidden.getShape().getShape());
                return layer == 1 ? hidden.add(0.5f) : hidden;
            };
            float[] mixed;
            float[] apart;
            try (KvCache cache = model.newCache(3, longest + 2)) {
                int token = argmax(model.prefill(step, new int[][] {a}, new int[] {0}, cache, BlockHook.NONE)
                        .toFloatArray());
                mixed = model.prefillAndDecode(step, new int[][] {b, c}, new int[] {1, 2}, cache, shift,
                        new int[] {token}).toFloatArray();
                assertThat(cache.length(0)).isEqualTo(a.length + 1);
                assertThat(cache.length(1)).isEqualTo(b.length);
                assertThat(cache.length(2)).isEqualTo(c.length);
            }
            assertThat(shapes).hasSize(model.config().numLayers());
            assertThat(shapes).allSatisfy(s -> assertThat(s).containsExactly(2, Math.max(b.length, c.length), d));
            try (KvCache cache = model.newCache(3, longest + 2)) {
                int token = argmax(model.prefill(step, new int[][] {a}, new int[] {0}, cache, BlockHook.NONE)
                        .toFloatArray());
                float[] decoded = model.decode(step, new int[] {token}, cache).toFloatArray();
                float[] prefilled = model.prefill(step, new int[][] {b, c}, new int[] {1, 2}, cache, shift)
                        .toFloatArray();
                apart = new float[mixed.length];
                System.arraycopy(prefilled, 0, apart, 0, prefilled.length);
                System.arraycopy(decoded, 0, apart, prefilled.length, decoded.length);
            }
            assertThat(maxAbsDiff(mixed, apart)).isLessThanOrEqualTo(1e-5f);
            float[] plain;
            try (KvCache cache = model.newCache(3, longest)) {
                plain = model.prefill(step, new int[][] {b}, new int[] {0}, cache, BlockHook.NONE).toFloatArray();
            }
            int vocab = model.config().vocabSize();
            assertThat(maxAbsDiff(Arrays.copyOf(mixed, vocab), plain)).isGreaterThan(1e-3f);
        }
    }

    /** A mixed step is one forward pass: each block runs once, where the prefill and the decode step apart run two. */
    @Test
    void aMixedStepRunsEachBlockOnce() {
        Reference ref = Reference.of("mistral-sliding");
        int[] a = ref.prompts().get(0).ids();
        int[] b = ref.prompts().get(1).ids();
        Checkpoint ckpt = ModelLoader.read(ReferenceFiles.resource(ref.dir()));
        NDManager manager = NDManager.newBaseManager();
        CpuTeam team = CpuTeam.of(1);
        Architecture arch = new LlamaArchitecture(manager.newSubManager(), ckpt, DataType.FLOAT32, team);
        AtomicInteger blocks = new AtomicInteger();
        Architecture counting = new DelegatingArchitecture(arch) {
            @Override
            public NDArray block(int layer, NDArray x, StepBatch batch, KvCache cache) {
                blocks.incrementAndGet();
                return super.block(layer, x, batch, cache);
            }
        };
        try (TransformerLM model = new TransformerLM(manager, counting, DataType.FLOAT32, "float32", team);
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(2, a.length + b.length)) {
            int layers = model.config().numLayers();
            int token = argmax(model.prefill(step, new int[][] {a}, new int[] {0}, cache, BlockHook.NONE)
                    .toFloatArray());
            blocks.set(0);
            model.prefillAndDecode(step, new int[][] {b}, new int[] {1}, cache, BlockHook.NONE, new int[] {token});
            assertThat(blocks.get()).isEqualTo(layers);
            blocks.set(0);
            model.decode(step, new int[] {token, token}, cache);
            assertThat(blocks.get()).isEqualTo(layers);
        }
    }

    /**
     * With bfloat16 weights and cache (the bucketed decode attention, oneDNN's packed products), a mixed step gives
     * the logits of the prefill and the decode step run apart, within bfloat16's rounding, and the same greedy ids.
     */
    @Test
    void aBfloat16MixedStepGivesTheStepsRunApart() {
        Reference ref = Reference.of("llama3-rope");
        int n = 4;
        int[][] prompts = new int[n][];
        for (int i = 0; i < n; i++) {
            prompts[i] = ref.prompts().get(i).ids();
        }
        int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElseThrow();
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "bfloat16", 2);
                NDManager step = NDManager.newBaseManager()) {
            assertThat(model.weightDtype()).isEqualTo("bfloat16");
            int vocab = model.config().vocabSize();
            float[][] results = new float[2][];
            for (int mode = 0; mode < 2; mode++) {
                try (KvCache cache = model.newCache(n, longest + 4)) {
                    float[] firsts = model.prefill(step, new int[][] {prompts[0], prompts[1]}, new int[] {0, 1},
                            cache, BlockHook.NONE).toFloatArray();
                    int[] tokens = {argmax(Arrays.copyOf(firsts, vocab)),
                        argmax(Arrays.copyOfRange(firsts, vocab, 2 * vocab))};
                    int[][] joining = {prompts[2], prompts[3]};
                    if (mode == 0) {
                        results[mode] = model.prefillAndDecode(step, joining, new int[] {2, 3}, cache,
                                BlockHook.NONE, tokens).toFloatArray();
                    } else {
                        float[] decoded = model.decode(step, tokens, cache).toFloatArray();
                        float[] prefilled = model.prefill(step, joining, new int[] {2, 3}, cache, BlockHook.NONE)
                                .toFloatArray();
                        results[mode] = Arrays.copyOf(prefilled, prefilled.length + decoded.length);
                        System.arraycopy(decoded, 0, results[mode], prefilled.length, decoded.length);
                    }
                }
            }
            for (int r = 0; r < n; r++) {
                float[] mixed = Arrays.copyOfRange(results[0], r * vocab, (r + 1) * vocab);
                float[] apart = Arrays.copyOfRange(results[1], r * vocab, (r + 1) * vocab);
                assertThat(maxAbsDiff(mixed, apart)).as("row %d", r).isLessThanOrEqualTo(2e-2f);
                assertThat(argmax(mixed)).as("row %d", r).isEqualTo(argmax(apart));
            }
        }
    }
}

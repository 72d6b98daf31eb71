package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.argmax;
import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.ModelsNextReferenceTest.Prompt;
import dev.reftserver.model.ModelsNextReferenceTest.Reference;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Long prompts prefill in chunks that attend to the cache so far, and the cache grows as rows need: neither changes
 * what the model computes (reference/models-next, whose prompts run up to 316 tokens, far past the 16-position
 * sliding windows).
 */
class ChunkedPrefillTest {

    private static final float LOGITS_ABS = 1e-4f;
    /** Smaller than most prompts and not a multiple of the sliding window, so chunks cut windows anywhere. */
    private static final int CHUNK = 40;

    @ParameterizedTest
    @ValueSource(strings = {"llama3-rope", "mistral-sliding", "gemma2"})
    void eachPromptInChunksGivesTheOneShotLogits(String name) {
        Reference ref = Reference.of(name);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", 1);
                NDManager step = NDManager.newBaseManager()) {
            for (Prompt p : ref.prompts()) {
                float[] oneShot;
                float[] chunked;
                try (KvCache cache = model.newCache(1, p.ids().length)) {
                    oneShot = model.prefill(step, new int[][] {p.ids()}, new int[] {0}, cache, BlockHook.NONE,
                            Integer.MAX_VALUE).toFloatArray();
                }
                try (KvCache cache = model.newCache(1, p.ids().length)) {
                    chunked = model.prefill(step, new int[][] {p.ids()}, new int[] {0}, cache, BlockHook.NONE, CHUNK)
                            .toFloatArray();
                    assertThat(cache.length(0)).isEqualTo(p.ids().length);
                }
                assertThat(maxAbsDiff(chunked, oneShot)).as("%s/%s chunked vs one-shot", name, p.name())
                        .isLessThanOrEqualTo(LOGITS_ABS);
                assertThat(maxAbsDiff(chunked, ref.logits(p.name()))).as("%s/%s chunked vs transformers", name,
                        p.name()).isLessThanOrEqualTo(LOGITS_ABS);
            }
        }
    }

    /**
     * Logits at every prompt position (what echo and prompt log-probabilities ask for) come back from chunked
     * passes exactly as from one pass: row by row, in position order, rows starting from different positions.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3-rope", "gemma2"})
    void logitsAtEveryPositionAreTheSameInChunks(String name) {
        Reference ref = Reference.of(name);
        List<Prompt> prompts = ref.prompts().stream().sorted((a, b) -> b.ids().length - a.ids().length).limit(3)
                .toList();
        int[][] ids = new int[prompts.size()][];
        int[] slots = new int[prompts.size()];
        int[] from = new int[prompts.size()];
        int longest = 0;
        for (int i = 0; i < ids.length; i++) {
            ids[i] = prompts.get(i).ids();
            slots[i] = i;
            from[i] = i == 0 ? 0 : ids[i].length / 2;
            longest = Math.max(longest, ids[i].length);
        }
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", 1);
                NDManager step = NDManager.newBaseManager()) {
            float[] oneShot;
            float[] chunked;
            try (KvCache cache = model.newCache(ids.length, longest)) {
                oneShot = model.prefill(step, ids, slots, cache, BlockHook.NONE, from, Integer.MAX_VALUE)
                        .toFloatArray();
            }
            try (KvCache cache = model.newCache(ids.length, longest)) {
                chunked = model.prefill(step, ids, slots, cache, BlockHook.NONE, from, CHUNK).toFloatArray();
            }
            assertThat(chunked).hasSameSizeAs(oneShot);
            assertThat(maxAbsDiff(chunked, oneShot)).as("%s every-position logits, chunked vs one-shot", name)
                    .isLessThanOrEqualTo(LOGITS_ABS);
        }
    }

    /**
     * All prompts as one batch in chunks, the two long ones in slots 0 and 12, so later chunks run a subset of rows
     * in slots that are not consecutive; then 16 greedy steps of the whole batch as transformers generates them.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3-rope", "mistral-sliding", "gemma2"})
    void aBatchInChunksMatchesTransformersThroughDecode(String name) {
        Reference ref = Reference.of(name);
        List<Prompt> prompts = new ArrayList<>(ref.prompts());
        int longIndex = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (prompts.get(i).ids().length == 145) {
                longIndex = i;
            }
        }
        prompts.add(0, prompts.remove(longIndex));
        int n = prompts.size();
        int[][] ids = prompts.stream().map(Prompt::ids).toArray(int[][]::new);
        int longest = Stream.of(ids).mapToInt(a -> a.length).max().orElseThrow();
        assertThat(ids[0].length).isGreaterThan(CHUNK);
        assertThat(ids[n - 1].length).as("the 316-token prompt stays last").isEqualTo(longest);
        int[] slots = new int[n];
        Arrays.setAll(slots, i -> i);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", 2);
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(n, longest + 16)) {
            int vocab = model.config().vocabSize();
            float[] logits = model.prefill(step, ids, slots, cache, BlockHook.NONE, CHUNK).toFloatArray();
            int[] next = new int[n];
            int[][] got = new int[n][16];
            for (int i = 0; i < n; i++) {
                float[] row = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
                assertThat(maxAbsDiff(row, ref.logits(prompts.get(i).name()))).as("%s/%s", name, prompts.get(i).name())
                        .isLessThanOrEqualTo(LOGITS_ABS);
                next[i] = argmax(row);
            }
            for (int s = 0; s < 16; s++) {
                for (int i = 0; i < n; i++) {
                    got[i][s] = next[i];
                }
                if (s < 15) {
                    try (NDManager sub = step.newSubManager()) {
                        float[] all = model.decode(sub, next, cache).toFloatArray();
                        for (int i = 0; i < n; i++) {
                            next[i] = argmax(Arrays.copyOfRange(all, i * vocab, (i + 1) * vocab));
                        }
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                Prompt p = prompts.get(i);
                assertThat(Arrays.copyOf(got[i], p.greedy().length)).as("%s/%s greedy", name, p.name())
                        .containsExactly(p.greedy());
            }
        }
    }

    /**
     * A cache starts at {@link KvCache#INITIAL_TOKENS} positions: decoding past them reallocates it and copies the
     * filled part, and every decode step still gives the logits of one forward over the whole sequence.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3-rope", "mistral-sliding"})
    void decodingPastTheInitialCapacityGrowsTheCacheWithoutChangingLogits(String name) {
        Reference ref = Reference.of(name);
        int[] longest = ref.prompts().stream().map(Prompt::ids).max((a, b) -> a.length - b.length).orElseThrow();
        int[] prompt = Arrays.copyOf(longest, KvCache.INITIAL_TOKENS - 6);
        int steps = 20;
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", 1);
                NDManager step = NDManager.newBaseManager();
                KvCache cache = model.newCache(2, 1024)) {
            int vocab = model.config().vocabSize();
            assertThat(cache.capacity()).isEqualTo(KvCache.INITIAL_TOKENS);
            int[] sequence = Arrays.copyOf(prompt, prompt.length + steps);
            List<float[]> decoded = new ArrayList<>();
            int next = argmax(model.prefill(step, new int[][] {prompt}, new int[] {0}, cache, BlockHook.NONE)
                    .toFloatArray());
            for (int s = 0; s < steps; s++) {
                sequence[prompt.length + s] = next;
                try (NDManager sub = step.newSubManager()) {
                    float[] logits = model.decode(sub, new int[] {next}, cache).toFloatArray();
                    decoded.add(logits);
                    next = argmax(logits);
                }
            }
            assertThat(cache.capacity()).as("grown past the initial capacity").isGreaterThan(KvCache.INITIAL_TOKENS);
            assertThat(cache.length(0)).isEqualTo(prompt.length + steps);
            float[] all = model.logitsAllPositions(step, sequence).toFloatArray();
            for (int s = 0; s < steps; s++) {
                int position = prompt.length + s;
                float[] expected = Arrays.copyOfRange(all, position * vocab, (position + 1) * vocab);
                assertThat(maxAbsDiff(decoded.get(s), expected)).as("%s decode step %d (position %d)", name, s,
                        position).isLessThanOrEqualTo(LOGITS_ABS);
            }
        }
    }

    /**
     * A 4,096-token prompt (a tiny sliding-window model given a 4,096-position context) prefills in the default
     * chunks into a cache no larger than one row of 4,096 tokens, and gives the logits other chunk sizes give.
     */
    @Test
    void aFourThousandTokenPromptPrefillsInChunksWithinOneRowOfBudget(@TempDir Path dir) throws IOException {
        Path source = ReferenceFiles.resource("reference/models-next/mistral-sliding");
        try (Stream<Path> files = Files.list(source)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        JsonObject config = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        config.addProperty("max_position_embeddings", 4096);
        Files.writeString(dir.resolve("config.json"), config.toString());
        int tokens = 4096;
        try (TransformerLM model = ModelLoader.load(dir, "cpu", "float32", 2);
                NDManager step = NDManager.newBaseManager()) {
            ModelConfig c = model.config();
            Random random = new Random(7);
            int[] prompt = new int[tokens];
            prompt[0] = Math.max(c.bosId(), 1);
            for (int t = 1; t < tokens; t++) {
                prompt[t] = 3 + random.nextInt(c.vocabSize() - 3);
            }
            long rowBytes = (long) tokens * 2 * c.numLayers() * c.numKvHeads() * c.headDim() * 4;
            float[] defaultChunks;
            try (KvCache cache = model.newCache(4, tokens, tokens)) {
                defaultChunks = model.prefill(step, new int[][] {prompt}, new int[] {0}, cache, BlockHook.NONE)
                        .toFloatArray();
                assertThat(cache.length(0)).isEqualTo(tokens);
                assertThat(cache.bytes()).as("one row of 4,096 tokens").isEqualTo(rowBytes);
            }
            float[] otherChunks;
            try (KvCache cache = model.newCache(1, tokens)) {
                otherChunks = model.prefill(step, new int[][] {prompt}, new int[] {0}, cache, BlockHook.NONE, 1000)
                        .toFloatArray();
            }
            assertThat(defaultChunks).hasSize(c.vocabSize());
            for (float v : defaultChunks) {
                assertThat(Float.isFinite(v)).isTrue();
            }
            assertThat(maxAbsDiff(defaultChunks, otherChunks)).isLessThanOrEqualTo(LOGITS_ABS);
        }
    }

    /**
     * The logits a caller asks for at many positions come to a {@link PositionLogits} in blocks of at most
     * {@link Prefill#LOGITS_BLOCK} positions, each row's in position order and covering exactly [from, length), with
     * the values of one pass's; the return holds each row's last position only.
     */
    @Test
    void positionLogitsComeInBoundedBlocksInOrder() {
        Reference ref = Reference.of("llama3-rope");
        int[] longestIds = ref.prompts().stream().map(Prompt::ids).max((a, b) -> a.length - b.length).orElseThrow();
        int[][] ids = {longestIds, ref.prompts().get(0).ids(), ref.prompts().get(1).ids()};
        int[] slots = {0, 1, 2};
        int[] from = {0, ids[1].length - 1, 1};
        int longest = Stream.of(ids).mapToInt(a -> a.length).max().orElseThrow();
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(ref.dir()), "cpu", "float32", 1);
                NDManager step = NDManager.newBaseManager()) {
            int vocab = model.config().vocabSize();
            float[] oneShot;
            try (KvCache cache = model.newCache(ids.length, longest)) {
                oneShot = model.prefill(step, ids, slots, cache, BlockHook.NONE, from, Integer.MAX_VALUE)
                        .toFloatArray();
            }
            List<List<float[]>> got = new ArrayList<>();
            int[] next = from.clone();
            for (int i = 0; i < ids.length; i++) {
                got.add(new ArrayList<>());
            }
            float[] last;
            try (KvCache cache = model.newCache(ids.length, longest)) {
                last = model.prefill(step, ids, slots, cache, BlockHook.NONE, from, (row, position, logits) -> {
                    long count = logits.getShape().get(0);
                    assertThat(count).isBetween(1L, (long) Prefill.LOGITS_BLOCK);
                    assertThat(position).as("row %d's next position", row).isEqualTo(next[row]);
                    next[row] += (int) count;
                    got.get(row).add(logits.toFloatArray());
                }).toFloatArray();
            }
            int at = 0;
            for (int i = 0; i < ids.length; i++) {
                assertThat(next[i]).as("row %d covered to its end", i).isEqualTo(ids[i].length);
                float[] row = new float[(ids[i].length - from[i]) * vocab];
                int k = 0;
                for (float[] block : got.get(i)) {
                    System.arraycopy(block, 0, row, k, block.length);
                    k += block.length;
                }
                assertThat(maxAbsDiff(row, Arrays.copyOfRange(oneShot, at, at + row.length)))
                        .isLessThanOrEqualTo(LOGITS_ABS);
                at += row.length;
                assertThat(Arrays.copyOfRange(last, i * vocab, (i + 1) * vocab))
                        .containsExactly(Arrays.copyOfRange(row, row.length - vocab, row.length));
            }
        }
    }
}

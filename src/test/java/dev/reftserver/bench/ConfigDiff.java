package dev.reftserver.bench;

import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.TransformerLM;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The comparing half of the differential config check: loads each case written by
 * {@code src/test/scripts/config_diff_gen.py} (a random tiny model and transformers' outputs on it) in float32 and
 * checks, against transformers:
 * <ol>
 *   <li>every position's logits of each prompt ({@link TransformerLM#logitsAllPositions}), and the last position's
 *   from a prefill;</li>
 *   <li>8 greedy steps through the KV cache (with longrope's rebuild where the sequence crosses the original context,
 *   as the engine does): the ids, and each step's logits while the ids agree. A different id where transformers' own
 *   top-1/top-2 margin is under 1e-4 of its largest logit is a near-tie, not a mismatch;</li>
 *   <li>all prompts of the case in one batched prefill and batched decode steps, row by row.</li>
 * </ol>
 * Logits match when {@code max |ours - HF| <= 1e-4 * max |HF|}. A config the loader refuses is recorded with its
 * message (a refusal must name what is unsupported); a prompt past the model's context is refused by the server where
 * transformers runs on, and counted apart. Where transformers' cached {@code generate} and its greedy loop without a
 * cache disagree (Phi-3's longrope when a sequence crosses the original context), the result says which one the
 * server equals.
 *
 * <p>With {@code --dtype=bfloat16} first, the Llama family's bfloat16 path instead: every position's logits against
 * transformers' float32 ones, the largest and the median departure over a prompt's positions within twice
 * transformers' own bfloat16 forward's (at least 3%): rounding moves tiny random models' logits by tens of percent at
 * some positions, in transformers too, so a fixed bound would measure rounding, not faults. Then all prompts as one
 * batch of decode steps through the bfloat16 cache, fed transformers' greedy ids, held the same way to transformers'
 * own bfloat16 model's cached steps.
 *
 * <p>Usage: {@code ConfigDiff [--dtype=bfloat16] RESULTS.jsonl CASE_DIR...} appends one JSON line per case to
 * RESULTS.jsonl;
 * {@code ConfigDiff --summary RESULTS.jsonl} counts them by outcome. A dev tool (it needs the generated cases); see
 * {@code scripts/config-diff.sh}.
 */
public final class ConfigDiff {

    static final double TOLERANCE = 1e-4;
    static final int STEPS = 8;
    /**
     * {@code --dtype=bfloat16}: over a prompt's positions, the largest and the median departure of the logits from
     * transformers' float32 ones may be twice transformers' own bfloat16 forward's (of the same weights), and always
     * 3% of the largest logit. Position by position the two roundings part at random; a fault moves every position.
     */
    static final double BFLOAT16_FACTOR = 2;
    static final double BFLOAT16_FLOOR = 0.03;
    static boolean bfloat16;

    public static void main(String[] args) throws IOException {
        if (args[0].equals("--summary")) {
            Map<String, Integer> counts = new TreeMap<>();
            for (String line : Files.readAllLines(Path.of(args[1]))) {
                counts.merge(outcome(JsonParser.parseString(line).getAsJsonObject()), 1, Integer::sum);
            }
            counts.forEach((k, v) -> System.out.printf("%-52s %d%n", k, v));
            return;
        }
        int first = args[0].equals("--dtype=bfloat16") ? 1 : 0;
        bfloat16 = first == 1;
        Path results = Path.of(args[first]);
        for (int a = first + 1; a < args.length; a++) {
            JsonObject res = new JsonObject();
            res.addProperty("case", args[a]);
            try {
                compare(Path.of(args[a]), res);
            } catch (Exception | AssertionError e) {
                res.addProperty("status", "harness_error");
                res.addProperty("error", String.valueOf(e));
            }
            Files.writeString(results, new Gson().toJson(res) + "\n", StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        }
    }

    /**
     * A case's outcome: match, refused, hf_error (transformers itself failed), or for a mismatch whether it is
     * only prompts past the context, only transformers' cached generate disagreeing with its own greedy loop without
     * a cache (the server equal to the latter), or a real mismatch.
     */
    static String outcome(JsonObject res) {
        String status = res.get("status").getAsString();
        if (!status.equals("mismatch")) {
            return status;
        }
        boolean numeric = false;
        boolean errors = false;
        boolean onlyContext = true;
        boolean cacheOnly = true;
        for (JsonElement e : res.getAsJsonArray("prompts")) {
            JsonObject p = e.getAsJsonObject();
            for (String k : new String[] {"all_error", "gen_error"}) {
                if (p.has(k)) {
                    errors = true;
                    onlyContext &= p.get(k).getAsString().contains("exceeds the model");
                }
            }
            boolean bad = p.has("greedy_mismatch") || value(p, "all_diff") > TOLERANCE
                    || value(p, "prefill_diff") > TOLERANCE || value(p, "step_diff") > TOLERANCE;
            if (bad) {
                numeric = true;
                cacheOnly &= value(p, "all_diff") <= TOLERANCE && p.has("matches_nocache")
                        && p.get("matches_nocache").getAsBoolean();
            }
        }
        JsonObject batched = res.getAsJsonObject("batched");
        if (batched != null && batched.has("error")) {
            errors = true;
            onlyContext &= batched.get("error").getAsString().contains("exceeds the model");
        }
        if (batched != null && batched.has("rows") && !batched.get("ok").getAsBoolean()) {
            numeric = true;
            for (JsonElement r : batched.getAsJsonArray("rows")) {
                JsonObject row = r.getAsJsonObject();
                cacheOnly &= row.get("ok").getAsBoolean()
                        || row.has("matches_nocache") && row.get("matches_nocache").getAsBoolean();
            }
        }
        if (!numeric) {
            return errors && onlyContext ? "past the context (refused)" : "mismatch";
        }
        return cacheOnly && (!errors || onlyContext) ? "HF generate != HF without cache; server = the latter"
                : "mismatch";
    }

    private static double value(JsonObject o, String key) {
        return o.has(key) ? o.get(key).getAsDouble() : 0;
    }

    static void compare(Path dir, JsonObject res) throws IOException {
        if (!Files.exists(dir.resolve("ref.json"))) {
            res.addProperty("status", "no_ref");
            return;
        }
        JsonObject ref = JsonParser.parseString(Files.readString(dir.resolve("ref.json"))).getAsJsonObject();
        boolean hfRan = false;
        for (JsonElement g : ref.getAsJsonArray("greedy")) {
            hfRan |= !g.isJsonNull();
        }
        if (!hfRan) {
            res.addProperty("status", "hf_error");
            return;
        }
        TransformerLM model;
        try {
            model = ModelLoader.load(dir, "cpu", bfloat16 ? "bfloat16" : "float32");
        } catch (RuntimeException e) {
            res.addProperty("status", "refused");
            res.addProperty("error", String.valueOf(e.getMessage()));
            return;
        }
        boolean ok = true;
        JsonArray per = new JsonArray();
        try (model) {
            int vocab = model.config().vocabSize();
            JsonArray prompts = ref.getAsJsonArray("prompts");
            for (int i = 0; i < prompts.size(); i++) {
                JsonObject p = new JsonObject();
                per.add(p);
                ok &= bfloat16 ? compareBfloat16(model, ref, dir, i, vocab, p)
                        : comparePrompt(model, ref, dir, i, vocab, p);
            }
            JsonObject batched = new JsonObject();
            res.add("batched", batched);
            try {
                ok &= bfloat16 ? decodeBfloat16(model, ref, dir, vocab, batched)
                        : compareBatched(model, ref, dir, vocab, batched);
            } catch (RuntimeException e) {
                batched.addProperty("error", e.getClass().getSimpleName() + ": " + e.getMessage());
                ok = false;
            }
        }
        res.add("prompts", per);
        res.addProperty("status", ok ? "match" : "mismatch");
    }

    /** Checks (1) and (2) for prompt i; records the figures in {@code p}; whether it matched. */
    private static boolean comparePrompt(TransformerLM model, JsonObject ref, Path dir, int i, int vocab,
            JsonObject p) throws IOException {
        int[] ids = ints(ref.getAsJsonArray("prompts").get(i).getAsJsonArray());
        int t = ids.length;
        p.addProperty("len", t);
        Path logitsFile = dir.resolve("logits_" + i + ".bin");
        JsonElement greedy = ref.getAsJsonArray("greedy").get(i);
        if (!Files.exists(logitsFile) || greedy.isJsonNull()) {
            p.addProperty("skipped", "transformers failed on this prompt");
            return true;
        }
        float[] hf = floats(logitsFile);
        boolean ok = true;
        try (NDManager step = NDManager.newBaseManager()) {
            try {
                float[] all = model.logitsAllPositions(step, ids).toFloatArray();
                double d = relDiff(all, 0, hf, 0, t * vocab);
                p.addProperty("all_diff", d);
                ok &= d <= TOLERANCE;
            } catch (RuntimeException e) {
                p.addProperty("all_error", e.getClass().getSimpleName() + ": " + e.getMessage());
                ok = false;
            }
            int[] expected = ints(greedy.getAsJsonArray());
            JsonArray margins = ref.getAsJsonArray("margins").get(i).getAsJsonArray();
            float[] steps = floats(dir.resolve("steplogits_" + i + ".bin"));
            try (KvCache cache = model.newCache(1, t + STEPS)) {
                float[] cur = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE,
                        new int[] {t - 1}).toFloatArray();
                double prefill = relDiff(cur, 0, hf, (t - 1) * vocab, vocab);
                p.addProperty("prefill_diff", prefill);
                ok &= prefill <= TOLERANCE;
                List<Integer> sequence = new ArrayList<>();
                Arrays.stream(ids).forEach(sequence::add);
                int[] got = new int[STEPS];
                List<float[]> mine = new ArrayList<>();
                for (int s = 0; s < STEPS; s++) {
                    mine.add(cur);
                    got[s] = argmax(cur, 0, vocab);
                    if (s == STEPS - 1) {
                        break;
                    }
                    rebuildIfDue(model, step, cache, 0, sequence);
                    try (NDManager sub = step.newSubManager()) {
                        cur = model.decode(sub, new int[] {got[s]}, cache).toFloatArray();
                    }
                    sequence.add(got[s]);
                }
                p.add("got", new Gson().toJsonTree(got));
                p.add("hf", new Gson().toJsonTree(expected));
                Greedy cached = greedy(mine, got, expected, steps, margins, vocab);
                p.addProperty("step_diff", cached.worst);
                if (cached.divergedAt >= 0) {
                    p.addProperty("diverge_step", cached.divergedAt);
                    p.addProperty(cached.nearTie ? "near_tie" : "greedy_mismatch", true);
                }
                ok &= cached.ok();
                JsonArray noCache = ref.getAsJsonArray("greedy_nocache");
                if (noCache != null && !noCache.get(i).isJsonNull()) {
                    Greedy nc = greedy(mine, got, ints(noCache.get(i).getAsJsonArray()),
                            floats(dir.resolve("steplogits_nc_" + i + ".bin")),
                            ref.getAsJsonArray("margins_nocache").get(i).getAsJsonArray(), vocab);
                    p.addProperty("nc_step_diff", nc.worst);
                    p.addProperty("matches_nocache", nc.ok());
                }
            } catch (RuntimeException e) {
                p.addProperty("gen_error", e.getClass().getSimpleName() + ": " + e.getMessage());
                ok = false;
            }
        }
        return ok;
    }

    /**
     * {@code --dtype=bfloat16}: prompt i's logits at every position ({@link TransformerLM#logitsAllPositions}) and at
     * the last from a prefill through the cache against transformers' float32 logits: the largest and the median
     * departure over the positions within {@link #BFLOAT16_FACTOR} times transformers' own bfloat16 forward's, at
     * least {@link #BFLOAT16_FLOOR}. A bfloat16 path that computed another model (a fold, a norm, a scale missed)
     * departs by far more; rounding alone does not. Records the larger ratio to its bound ({@code bf16_ratio}, at
     * most 1 to match).
     */
    private static boolean compareBfloat16(TransformerLM model, JsonObject ref, Path dir, int i, int vocab,
            JsonObject p) throws IOException {
        int[] ids = ints(ref.getAsJsonArray("prompts").get(i).getAsJsonArray());
        int t = ids.length;
        p.addProperty("len", t);
        Path low = dir.resolve("logits_bf16_" + i + ".bin");
        if (!Files.exists(low) || ref.getAsJsonArray("greedy").get(i).isJsonNull()) {
            p.addProperty("skipped", "no bfloat16 reference");
            return true;
        }
        float[] hf = floats(dir.resolve("logits_" + i + ".bin"));
        float[] hfLow = floats(low);
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, t)) {
            float[] all = model.logitsAllPositions(step, ids).toFloatArray();
            float[] last = model.prefill(step, new int[][] {ids}, new int[] {0}, cache, BlockHook.NONE,
                    new int[] {t - 1}).toFloatArray();
            double[] ours = new double[t + 1];
            double[] theirs = new double[t + 1];
            for (int pos = 0; pos <= t; pos++) {
                // pos == t: the prefill's last position
                int at = Math.min(pos, t - 1);
                ours[pos] = relDiff(pos < t ? all : last, pos < t ? at * vocab : 0, hf, at * vocab, vocab);
                theirs[pos] = relDiff(hfLow, at * vocab, hf, at * vocab, vocab);
            }
            double[] oursSorted = ours.clone();
            double[] theirsSorted = theirs.clone();
            Arrays.sort(oursSorted);
            Arrays.sort(theirsSorted);
            double worstRatio = oursSorted[t] / Math.max(BFLOAT16_FLOOR, BFLOAT16_FACTOR * theirsSorted[t]);
            double medianRatio = oursSorted[t / 2] / Math.max(BFLOAT16_FLOOR, BFLOAT16_FACTOR * theirsSorted[t / 2]);
            double worst = Math.max(worstRatio, medianRatio);
            p.addProperty("bf16_ours_max", oursSorted[t]);
            p.addProperty("bf16_transformers_max", theirsSorted[t]);
            p.addProperty("bf16_ours_median", oursSorted[t / 2]);
            p.addProperty("bf16_transformers_median", theirsSorted[t / 2]);
            p.addProperty("bf16_ratio", worst);
            return worst <= 1;
        } catch (RuntimeException e) {
            p.addProperty("all_error", e.getClass().getSimpleName() + ": " + e.getMessage());
            return false;
        }
    }

    /**
     * {@code --dtype=bfloat16}, decode: every prompt in one batched prefill, then batched decode steps fed
     * transformers' float32 greedy ids, so rows at different positions read the bfloat16 cache. Each row's steps
     * against transformers' float32 logits, the largest and the median departure within twice those of
     * transformers' own bfloat16 model's cached steps fed the same ids (at least 3%). A longrope model, whose rows
     * the engine rebuilds where they reach the original context (as here), is held instead to transformers' steps
     * without a cache (the whole sequence each step, which the rebuild follows; transformers' cached steps are not
     * the engine's there), float32 and bfloat16, fed the float32 no-cache greedy ids.
     */
    private static boolean decodeBfloat16(TransformerLM model, JsonObject ref, Path dir, int vocab, JsonObject b)
            throws IOException {
        boolean longrope = model.rebuildAt() > 0;
        String suffix = longrope ? "_nc_" : "_";
        JsonArray prompts = ref.getAsJsonArray("prompts");
        JsonArray greedy = ref.getAsJsonArray(longrope ? "greedy_nocache" : "greedy");
        int n = prompts.size();
        int[][] ids = new int[n][];
        int[][] forced = new int[n][];
        float[][] steps = new float[n][];
        float[][] low = new float[n][];
        int[] slots = new int[n];
        int[] last = new int[n];
        int longest = 0;
        int count = STEPS;
        for (int i = 0; i < n; i++) {
            Path lowFile = dir.resolve("steplogits_bf16" + suffix + i + ".bin");
            if (greedy == null || greedy.get(i).isJsonNull() || !Files.exists(lowFile)) {
                b.addProperty("skipped", "no reference for a row");
                return true;
            }
            ids[i] = ints(prompts.get(i).getAsJsonArray());
            forced[i] = ints(greedy.get(i).getAsJsonArray());
            steps[i] = floats(dir.resolve("steplogits" + suffix + i + ".bin"));
            low[i] = floats(lowFile);
            count = Math.min(count, forced[i].length);
            slots[i] = i;
            last[i] = ids[i].length - 1;
            longest = Math.max(longest, ids[i].length);
        }
        double[][] ours = new double[n][count - 1];
        double[][] theirs = new double[n][count - 1];
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(n, longest + STEPS)) {
            model.prefill(step, ids, slots, cache, BlockHook.NONE, last);
            List<List<Integer>> sequences = new ArrayList<>();
            for (int[] row : ids) {
                sequences.add(new ArrayList<>(Arrays.stream(row).boxed().toList()));
            }
            for (int s = 0; s + 1 < count; s++) {
                int[] next = new int[n];
                for (int i = 0; i < n; i++) {
                    next[i] = forced[i][s];
                    rebuildIfDue(model, step, cache, i, sequences.get(i));
                    sequences.get(i).add(next[i]);
                }
                float[] logits;
                try (NDManager sub = step.newSubManager()) {
                    logits = model.decode(sub, next, cache).toFloatArray();
                }
                for (int i = 0; i < n; i++) {
                    ours[i][s] = relDiff(logits, i * vocab, steps[i], (s + 1) * vocab, vocab);
                    theirs[i][s] = relDiff(low[i], (s + 1) * vocab, steps[i], (s + 1) * vocab, vocab);
                }
            }
        }
        double worst = 0;
        JsonArray rows = new JsonArray();
        for (int i = 0; i < n && count > 1; i++) {
            double[] o = ours[i].clone();
            double[] t = theirs[i].clone();
            Arrays.sort(o);
            Arrays.sort(t);
            int m = o.length - 1;
            double ratio = Math.max(o[m] / Math.max(BFLOAT16_FLOOR, BFLOAT16_FACTOR * t[m]),
                    o[m / 2] / Math.max(BFLOAT16_FLOOR, BFLOAT16_FACTOR * t[m / 2]));
            worst = Math.max(worst, ratio);
            JsonObject row = new JsonObject();
            row.add("ours", new Gson().toJsonTree(ours[i]));
            row.add("transformers", new Gson().toJsonTree(theirs[i]));
            row.addProperty("bf16_ratio", ratio);
            rows.add(row);
        }
        b.add("bf16_rows", rows);
        b.addProperty("bf16_ratio", worst);
        b.addProperty("rebuilt", longrope);
        b.addProperty("ok", worst <= 1);
        return worst <= 1;
    }

    /** Check (3): every prompt in one batched prefill, then batched decode steps; whether every row matched. */
    private static boolean compareBatched(TransformerLM model, JsonObject ref, Path dir, int vocab, JsonObject b)
            throws IOException {
        JsonArray prompts = ref.getAsJsonArray("prompts");
        int n = prompts.size();
        int[][] ids = new int[n][];
        int[] slots = new int[n];
        int[] last = new int[n];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            if (ref.getAsJsonArray("greedy").get(i).isJsonNull()) {
                b.addProperty("skipped", "transformers failed on a prompt");
                b.addProperty("ok", true);
                return true;
            }
            ids[i] = ints(prompts.get(i).getAsJsonArray());
            slots[i] = i;
            last[i] = ids[i].length - 1;
            longest = Math.max(longest, ids[i].length);
        }
        float[][][] mine = new float[n][STEPS][];
        int[][] got = new int[n][STEPS];
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(n, longest + STEPS)) {
            float[] logits = model.prefill(step, ids, slots, cache, BlockHook.NONE, last).toFloatArray();
            List<List<Integer>> sequences = new ArrayList<>();
            for (int[] row : ids) {
                List<Integer> s = new ArrayList<>();
                Arrays.stream(row).forEach(s::add);
                sequences.add(s);
            }
            for (int s = 0; s < STEPS; s++) {
                int[] next = new int[n];
                for (int i = 0; i < n; i++) {
                    mine[i][s] = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
                    next[i] = got[i][s] = argmax(logits, i * vocab, vocab);
                }
                if (s == STEPS - 1) {
                    break;
                }
                for (int i = 0; i < n; i++) {
                    rebuildIfDue(model, step, cache, i, sequences.get(i));
                }
                try (NDManager sub = step.newSubManager()) {
                    logits = model.decode(sub, next, cache).toFloatArray();
                }
                for (int i = 0; i < n; i++) {
                    sequences.get(i).add(next[i]);
                }
            }
        }
        boolean ok = true;
        JsonArray rows = new JsonArray();
        for (int i = 0; i < n; i++) {
            JsonObject row = new JsonObject();
            Greedy cached = greedy(Arrays.asList(mine[i]), got[i],
                    ints(ref.getAsJsonArray("greedy").get(i).getAsJsonArray()),
                    floats(dir.resolve("steplogits_" + i + ".bin")),
                    ref.getAsJsonArray("margins").get(i).getAsJsonArray(), vocab);
            row.addProperty("step_diff", cached.worst);
            row.add("got", new Gson().toJsonTree(got[i]));
            JsonArray noCache = ref.getAsJsonArray("greedy_nocache");
            if (noCache != null && !noCache.get(i).isJsonNull()) {
                Greedy nc = greedy(Arrays.asList(mine[i]), got[i], ints(noCache.get(i).getAsJsonArray()),
                        floats(dir.resolve("steplogits_nc_" + i + ".bin")),
                        ref.getAsJsonArray("margins_nocache").get(i).getAsJsonArray(), vocab);
                row.addProperty("matches_nocache", nc.ok());
            }
            row.addProperty("ok", cached.ok());
            ok &= cached.ok();
            rows.add(row);
        }
        b.add("rows", rows);
        b.addProperty("ok", ok);
        return ok;
    }

    /** Longrope: a row whose sequence reaches the original context gets its cache rebuilt, as the engine does. */
    private static void rebuildIfDue(TransformerLM model, NDManager step, KvCache cache, int slot,
            List<Integer> sequence) {
        int at = model.rebuildAt();
        if (at > 0 && cache.length(slot) == at) {
            try (NDManager sub = step.newSubManager()) {
                model.rebuild(sub, sequence.stream().mapToInt(Integer::intValue).toArray(), slot, cache,
                        BlockHook.NONE);
            }
        }
    }

    /** Greedy steps against a reference: the worst logit difference while the ids agree, and where they part. */
    private record Greedy(double worst, int divergedAt, boolean nearTie) {
        boolean ok() {
            return worst <= TOLERANCE && (divergedAt < 0 || nearTie);
        }
    }

    private static Greedy greedy(List<float[]> mine, int[] got, int[] expected, float[] steps, JsonArray margins,
            int vocab) {
        double worst = 0;
        for (int s = 0; s < expected.length && s < got.length; s++) {
            worst = Math.max(worst, relDiff(mine.get(s), 0, steps, s * vocab, vocab));
            if (got[s] != expected[s]) {
                return new Greedy(worst, s, margins.get(s).getAsDouble() <= TOLERANCE);
            }
        }
        return new Greedy(worst, -1, false);
    }

    /** max |got - ref| over max |ref| (infinite where exactly one of a pair is NaN). */
    static double relDiff(float[] got, int gotFrom, float[] ref, int refFrom, int n) {
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < n; i++) {
            float x = got[gotFrom + i];
            float y = ref[refFrom + i];
            if (Float.isNaN(x) != Float.isNaN(y)) {
                return Double.POSITIVE_INFINITY;
            }
            diff = Math.max(diff, Math.abs(x - y));
            scale = Math.max(scale, Math.abs(y));
        }
        return diff / Math.max(scale, 1e-30);
    }

    private static int argmax(float[] a, int from, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[from + i] > a[from + best]) {
                best = i;
            }
        }
        return best;
    }

    private static float[] floats(Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    private static int[] ints(JsonArray a) {
        int[] o = new int[a.size()];
        for (int i = 0; i < o.length; i++) {
            o[i] = a.get(i).getAsInt();
        }
        return o;
    }
}

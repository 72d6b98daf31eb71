package dev.reftserver.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.TransformerLM;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * A digest of every logit the engine computes for fixed prompts: each prompt prefilled alone and then 24 greedy
 * decode steps, and all of them at once in one batch of rows at different positions. Run it on two builds (e.g. in a
 * worktree of the old commit) to show that a change to the hot path leaves the model's outputs the same bit for
 * bit; equal digests mean equal logits at every step.
 *
 * <p>Usage: {@code LogitsDigest MODEL_PATH [DTYPE]} (default float32); prints one line per run: its digest and greedy
 * ids. Ids are drawn below the vocabulary size, so any model takes them.
 */
public final class LogitsDigest {

    private static final int STEPS = 24;

    public static void main(String[] args) throws NoSuchAlgorithmException {
        try (TransformerLM model = ModelLoader.load(Path.of(args[0]), "cpu", args.length > 1 ? args[1] : "float32")) {
            int vocab = model.config().vocabSize();
            int[] lengths = {4, 7, 9, 33};
            int[][] prompts = new int[lengths.length][];
            for (int r = 0; r < lengths.length; r++) {
                prompts[r] = new int[lengths[r]];
                for (int t = 0; t < lengths[r]; t++) {
                    prompts[r][t] = (int) ((1 + 7919L * (r + 1) * (t + 3)) % vocab);
                }
            }
            for (int r = 0; r < prompts.length; r++) {
                System.out.println("alone " + r + " " + run(model, new int[][] {prompts[r]}));
            }
            System.out.println("batch   " + run(model, prompts));
        }
    }

    private static String run(TransformerLM model, int[][] prompts) throws NoSuchAlgorithmException {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        int n = prompts.length;
        int[][] ids = new int[n][STEPS];
        int longest = Arrays.stream(prompts).mapToInt(p -> p.length).max().orElse(0);
        try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(n, longest + STEPS)) {
            int[] next = new int[n];
            for (int i = 0; i < n; i++) {
                // Rows are admitted one by one, as the engine admits requests, so they sit at different positions.
                NDArray logits = model.prefill(step, new int[][] {prompts[i]}, new int[] {i}, cache, BlockHook.NONE);
                update(digest, logits.toFloatArray());
                next[i] = (int) logits.argMax(1).toLongArray()[0];
            }
            for (int s = 0; s < STEPS; s++) {
                try (NDManager sub = step.newSubManager()) {
                    NDArray logits = model.decode(sub, next, cache);
                    update(digest, logits.toFloatArray());
                    long[] best = logits.argMax(1).toLongArray();
                    for (int i = 0; i < n; i++) {
                        ids[i][s] = next[i];
                        next[i] = (int) best[i];
                    }
                }
            }
        }
        StringBuilder out = new StringBuilder(HexFormat.of().formatHex(digest.digest()).substring(0, 16));
        for (int[] row : ids) {
            out.append(' ').append(Arrays.toString(row).replace(" ", ""));
        }
        return out.toString();
    }

    private static void update(MessageDigest digest, float[] values) {
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(values.length * Float.BYTES);
        bytes.asFloatBuffer().put(values);
        digest.update(bytes.array());
    }
}

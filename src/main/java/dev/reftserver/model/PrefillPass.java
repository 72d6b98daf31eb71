package dev.reftserver.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * One pass of a chunked prefill: the rows still running at position {@code start}, each with its part of the
 * prompt [start, start + chunk), its slot, and where in that part its logits start ({@code from[r]}: the part's
 * length when the row wants none from this pass).
 *
 * @param rows which of the prefill's rows run in this pass, in order
 */
record PrefillPass(int start, int[] rows, int[][] parts, int[] slots, int[] from) {

    /** The passes of at most {@code chunk} positions per row that cover every prompt, in position order. */
    static List<PrefillPass> split(int[][] prompts, int[] slots, int[] logitsFrom, int chunk) {
        int longest = 0;
        for (int[] p : prompts) {
            longest = Math.max(longest, p.length);
        }
        List<PrefillPass> passes = new ArrayList<>();
        for (int start = 0; start < longest; start += chunk) {
            int s = start;
            int[] rows = IntStream.range(0, prompts.length).filter(i -> prompts[i].length > s).toArray();
            int m = rows.length;
            int[][] parts = new int[m][];
            int[] partSlots = new int[m];
            int[] from = new int[m];
            for (int r = 0; r < m; r++) {
                int i = rows[r];
                parts[r] = Arrays.copyOfRange(prompts[i], start, Math.min(prompts[i].length, start + chunk));
                partSlots[r] = slots[i];
                from[r] = Math.min(Math.max(logitsFrom[i] - start, 0), parts[r].length);
            }
            passes.add(new PrefillPass(start, rows, parts, partSlots, from));
        }
        return passes;
    }

    /** Positions the pass covers at most: {@code start} plus its longest part. */
    int end() {
        int longest = 0;
        for (int[] p : parts) {
            longest = Math.max(longest, p.length);
        }
        return start + longest;
    }
}

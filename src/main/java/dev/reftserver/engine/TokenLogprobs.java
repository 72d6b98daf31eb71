package dev.reftserver.engine;

/**
 * Log-probabilities at one position: the token that was taken (generated, or the prompt's own token for echo) and
 * the {@code top} most likely tokens, from the model's raw distribution ({@code log_softmax} of the fp32 logits over
 * the whole vocabulary, before temperature, penalties, logit bias, top-k or top-p), which is what OpenAI reports
 * and what evaluation harnesses score.
 *
 * @param id           the token taken at this position
 * @param logprob      its log-probability
 * @param topIds       the most likely ids, most likely first (ties: lower id first)
 * @param topLogprobs  their log-probabilities, same order
 */
public record TokenLogprobs(int id, float logprob, int[] topIds, float[] topLogprobs) {

    /** Most alternatives a request may ask for per position (OpenAI's limit for completions). */
    public static final int MAX_TOP = 20;

    /**
     * Log-softmax of {@code logits[from, from + vocab)} at {@code id} and its {@code top} largest entries. Stable:
     * the maximum is subtracted before exponentiating and the sum is accumulated in double, so the result is the
     * fp32 log-softmax to within rounding. The top entries come from one partial selection pass (a bounded heap),
     * never a sort of the vocabulary.
     */
    public static TokenLogprobs of(float[] logits, int from, int vocab, int id, int top) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[from + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp((double) logits[from + i] - max);
        }
        double logSum = Math.log(sum);
        int[] ids = topIndices(logits, from, vocab, top);
        float[] lps = new float[ids.length];
        for (int k = 0; k < ids.length; k++) {
            lps[k] = logprob(logits[from + ids[k]], max, logSum);
        }
        return new TokenLogprobs(id, logprob(logits[from + id], max, logSum), ids, lps);
    }

    /** (x - max) - log(sum): shifted before anything is added, so large logits keep their precision. */
    private static float logprob(float x, float max, double logSum) {
        return (float) (((double) x - max) - logSum);
    }

    public static TokenLogprobs of(float[] logits, int id, int top) {
        return of(logits, 0, logits.length, id, top);
    }

    /**
     * Indices of the {@code k} largest of {@code v[from, from + n)}, largest first, ties by lower index: a min-heap
     * of k entries over one pass, O(n log k).
     */
    static int[] topIndices(float[] v, int from, int n, int k) {
        k = Math.min(k, n);
        if (k <= 0) {
            return new int[0];
        }
        int[] heap = new int[k]; // heap[0] is the weakest kept index
        int size = 0;
        for (int i = 0; i < n; i++) {
            if (size < k) {
                heap[size] = i;
                siftUp(heap, size++, v, from);
            } else if (better(v, from, i, heap[0])) {
                heap[0] = i;
                siftDown(heap, size, v, from);
            }
        }
        int[] out = new int[size];
        for (int j = size - 1; j >= 0; j--) {
            out[j] = heap[0];
            heap[0] = heap[j];
            siftDown(heap, j, v, from);
        }
        return out;
    }

    /** Whether index a ranks above index b: larger value, or equal value and lower index. */
    private static boolean better(float[] v, int from, int a, int b) {
        float x = v[from + a];
        float y = v[from + b];
        return x > y || x == y && a < b;
    }

    private static void siftUp(int[] heap, int i, float[] v, int from) {
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (!better(v, from, heap[parent], heap[i])) {
                break;
            }
            swap(heap, i, parent);
            i = parent;
        }
    }

    private static void siftDown(int[] heap, int size, float[] v, int from) {
        int i = 0;
        while (true) {
            int l = 2 * i + 1;
            int r = l + 1;
            int worst = i;
            if (l < size && better(v, from, heap[worst], heap[l])) {
                worst = l;
            }
            if (r < size && better(v, from, heap[worst], heap[r])) {
                worst = r;
            }
            if (worst == i) {
                return;
            }
            swap(heap, i, worst);
            i = worst;
        }
    }

    private static void swap(int[] a, int i, int j) {
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

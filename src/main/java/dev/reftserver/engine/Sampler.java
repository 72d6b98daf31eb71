package dev.reftserver.engine;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token of one row from its logits: greedy, or temperature / top-k / top-p sampling by inverse CDF
 * with the row's own seeded generator (DJL has no multinomial), so a seed makes a row's output repeatable
 * whatever else shares its batch.
 */
final class Sampler {

    private final SamplingParams params;
    private final SplittableRandom random;

    Sampler(SamplingParams params) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() != null ? params.seed() : new SplittableRandom().nextLong());
    }

    boolean greedy() {
        return params.isGreedy();
    }

    int sample(float[] logits) {
        if (params.isGreedy()) {
            return argmax(logits);
        }
        int vocab = logits.length;
        double invT = 1.0 / params.temperature();
        int[] order = sortedDescending(logits, params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab);
        int n = order.length;
        double max = logits[order[0]] * invT;
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp(logits[order[i]] * invT - max);
            sum += p[i];
        }
        // Nucleus: the smallest prefix (by probability) whose mass reaches top_p.
        int keep = n;
        if (params.topP() < 1.0) {
            double target = params.topP() * sum;
            double acc = 0;
            for (int i = 0; i < n; i++) {
                acc += p[i];
                if (acc >= target) {
                    keep = i + 1;
                    break;
                }
            }
        }
        double total = 0;
        for (int i = 0; i < keep; i++) {
            total += p[i];
        }
        double u = random.nextDouble() * total;
        double acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += p[i];
            if (u < acc) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Indices of the {@code k} largest logits, largest first (ties: lower index first). */
    static int[] sortedDescending(float[] logits, int k) {
        long[] keyed = new long[logits.length];
        for (int i = 0; i < logits.length; i++) {
            // Order-preserving int image of the float, complemented so an ascending sort gives descending logits.
            int bits = Float.floatToIntBits(logits[i]);
            int sortable = bits >= 0 ? bits : bits ^ 0x7fffffff;
            keyed[i] = ((long) ~sortable << 32) | (i & 0xffffffffL);
        }
        Arrays.sort(keyed);
        int[] out = new int[k];
        for (int i = 0; i < k; i++) {
            out[i] = (int) keyed[i];
        }
        return out;
    }
}

package dev.reftserver.training;

import java.util.List;

/**
 * torch's {@code clip_grad_norm_} followed by {@code torch.optim.AdamW} (the single-tensor implementation), in
 * fp32 with the same order of operations: clip coefficient min(1, max_norm / (total + 1e-6)) over the norm of the
 * per-tensor L2 norms; then p *= 1 - lr wd; m = m + (1 - b1)(g - m) (lerp); v = v b2 + (1 - b2) g g;
 * p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 */
final class AdamW {

    static final double BETA1 = 0.9;
    static final double BETA2 = 0.999;
    static final double EPS = 1e-8;

    private final double weightDecay;
    private final double maxGradNorm;
    private int t;

    AdamW(double weightDecay, double maxGradNorm) {
        this.weightDecay = weightDecay;
        this.maxGradNorm = maxGradNorm;
    }

    /** Updates taken so far (torch's {@code state["step"]}). */
    int steps() {
        return t;
    }

    /** Continues from {@code steps} updates taken (the moments live in the parameters). */
    void resumeAt(int steps) {
        t = steps;
    }

    /** The L2 norm over all gradients together (before clipping). */
    static float totalNorm(List<float[]> grads) {
        double sumSquares = 0;
        for (float[] g : grads) {
            double s = 0;
            for (float x : g) {
                s += (double) x * x;
            }
            float norm = (float) Math.sqrt(s);
            sumSquares += (double) norm * norm;
        }
        return (float) Math.sqrt(sumSquares);
    }

    /**
     * One update of every parameter with its gradient (same order), at learning rate {@code lr}.
     *
     * @return the gradient norm before clipping
     */
    float step(List<Parameter> params, List<float[]> grads, double lr) {
        float total = totalNorm(grads);
        float coef = 1f;
        if (maxGradNorm > 0) {
            coef = Math.min(1f, (float) maxGradNorm / (total + 1e-6f));
        }
        t++;
        float oneMinusBeta1 = (float) (1 - BETA1);
        float beta2 = (float) BETA2;
        float oneMinusBeta2 = (float) (1 - BETA2);
        double bias1 = 1 - Math.pow(BETA1, t);
        double bias2Sqrt = Math.sqrt(1 - Math.pow(BETA2, t));
        float stepSize = (float) (lr / bias1);
        float b2s = (float) bias2Sqrt;
        float eps = (float) EPS;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            float[] g = grads.get(i);
            float[] w = p.value();
            float[] m = p.m();
            float[] v = p.v();
            float decay = p.decays() && weightDecay != 0 ? (float) (1 - lr * weightDecay) : 1f;
            for (int k = 0; k < w.length; k++) {
                float gk = coef == 1f ? g[k] : g[k] * coef;
                if (decay != 1f) {
                    w[k] *= decay;
                }
                m[k] = m[k] + oneMinusBeta1 * (gk - m[k]);
                v[k] = v[k] * beta2 + oneMinusBeta2 * gk * gk;
                float denom = (float) Math.sqrt(v[k]) / b2s + eps;
                w[k] = w[k] + (-stepSize) * m[k] / denom;
            }
        }
        return total;
    }
}

package dev.reftserver.intervention;

import java.util.Map;

/**
 * One ReFT intervention at one layer: the closed set of pyreft's six types. {@link #apply} is the plain per-position
 * math (double accumulation, fp32 result) and mirrors each pyreft {@code forward}; {@link #pack} rewrites the same
 * edit in the one shape that batched application uses for every type:
 * <pre>  h' = h + A^T (act(W h + b) - m (A h) - e)</pre>
 */
sealed interface Intervention permits LoreftIntervention, DireftIntervention, NodireftIntervention,
        NoreftIntervention, ConsreftIntervention, LobireftIntervention {

    ReftType type();

    /** The block whose output ("block_output") it edits, 0-based. */
    int layer();

    ApplyTo applyTo();

    default Activation act() {
        return Activation.LINEAR;
    }

    int rank();

    int hiddenSize();

    /** Its tensors under their native role names ({@code rotate}, {@code weight}, ...), in a fixed order. */
    Map<String, FloatTensor> tensors();

    /** The edited hidden state of one position. */
    float[] apply(float[] h);

    /** The same edit in the uniform batched form. */
    PackedIntervention pack();

    /** M h for M [r,d]. */
    static double[] rowsTimes(FloatTensor m, float[] h) {
        int r = m.dim(0);
        int d = m.dim(1);
        double[] out = new double[r];
        float[] a = m.data();
        for (int j = 0; j < r; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) {
                s += (double) a[j * d + k] * h[k];
            }
            out[j] = s;
        }
        return out;
    }

    /** S^T h for S [d,r]. */
    static double[] columnsTimes(FloatTensor s, float[] h) {
        int d = s.dim(0);
        int r = s.dim(1);
        double[] out = new double[r];
        float[] a = s.data();
        for (int k = 0; k < d; k++) {
            for (int j = 0; j < r; j++) {
                out[j] += (double) a[k * r + j] * h[k];
            }
        }
        return out;
    }

    /** h + S z for S [d,r]. */
    static float[] plusColumns(float[] h, FloatTensor s, double[] z) {
        int d = s.dim(0);
        int r = s.dim(1);
        float[] a = s.data();
        float[] out = new float[d];
        for (int k = 0; k < d; k++) {
            double v = h[k];
            for (int j = 0; j < r; j++) {
                v += (double) a[k * r + j] * z[j];
            }
            out[k] = (float) v;
        }
        return out;
    }

    /** h + P^T z for P [r,d]. */
    static float[] plusRowsTransposed(float[] h, FloatTensor p, double[] z) {
        int r = p.dim(0);
        int d = p.dim(1);
        float[] a = p.data();
        double[] acc = new double[d];
        for (int k = 0; k < d; k++) {
            acc[k] = h[k];
        }
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < d; k++) {
                acc[k] += (double) a[j * d + k] * z[j];
            }
        }
        float[] out = new float[d];
        for (int k = 0; k < d; k++) {
            out[k] = (float) acc[k];
        }
        return out;
    }

    /** act(W h + b). */
    static double[] learnedSource(FloatTensor weight, FloatTensor bias, Activation act, float[] h) {
        double[] u = rowsTimes(weight, h);
        for (int j = 0; j < u.length; j++) {
            u[j] = act.apply(u[j] + bias.data()[j]);
        }
        return u;
    }
}

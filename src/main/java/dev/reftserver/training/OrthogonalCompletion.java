package dev.reftserver.training;

/**
 * Completes a rotation's r orthonormal columns R0 [d,r] to an orthogonal d x d basis B0 whose first r columns are
 * R0: the base of torch's {@code orthogonal} parametrization ("dynamic trivialization", R = B Q(X)). torch would
 * draw B0's other columns at random when pyreft registers the parametrization, and training then depends on that
 * draw (AdamW scales each entry of X separately, so the basis matters); this rule fixes them from R0 alone, so a
 * bundle is all a run needs. It is the Householder QR of R0 in LAPACK's {@code dgeqrf} convention, in double
 * precision: B = H_0 H_1 ... H_{r-1}, column i &lt; r times sign(beta_i), rounded to fp32, first r columns
 * overwritten with R0 itself.
 */
final class OrthogonalCompletion {

    private OrthogonalCompletion() {
    }

    /** @return B0 [d,d] row-major */
    static float[] complete(float[] r0, int d, int r) {
        double[][] a = new double[d][r];
        for (int k = 0; k < d; k++) {
            for (int j = 0; j < r; j++) {
                a[k][j] = r0[k * r + j];
            }
        }
        double[][] v = new double[r][];
        double[] tau = new double[r];
        double[] sign = new double[r];
        for (int i = 0; i < r; i++) {
            double alpha = a[i][i];
            double ss = 0;
            for (int k = i + 1; k < d; k++) {
                ss += a[k][i] * a[k][i];
            }
            double s = Math.sqrt(ss);
            double[] vi = new double[d];
            vi[i] = 1.0;
            if (s == 0.0) {
                // dlarfg: nothing below the diagonal, H_i = I and beta = alpha
                tau[i] = 0.0;
                sign[i] = alpha < 0 ? -1.0 : 1.0;
                v[i] = vi;
                continue;
            }
            double beta = -Math.copySign(Math.hypot(alpha, s), alpha);
            tau[i] = (beta - alpha) / beta;
            for (int k = i + 1; k < d; k++) {
                vi[k] = a[k][i] / (alpha - beta);
            }
            v[i] = vi;
            sign[i] = Math.signum(beta);
            // A[i:, i:] -= tau v (v^T A[i:, i:])
            for (int c = i; c < r; c++) {
                double dot = 0;
                for (int k = i; k < d; k++) {
                    dot += vi[k] * a[k][c];
                }
                double f = tau[i] * dot;
                for (int k = i; k < d; k++) {
                    a[k][c] -= f * vi[k];
                }
            }
        }
        // B = H_0 (H_1 (... (H_{r-1} I))), one reflection at a time on the rows i.. it touches.
        double[][] b = new double[d][d];
        for (int k = 0; k < d; k++) {
            b[k][k] = 1.0;
        }
        double[] dots = new double[d];
        for (int i = r - 1; i >= 0; i--) {
            double[] vi = v[i];
            java.util.Arrays.fill(dots, 0.0);
            for (int k = i; k < d; k++) {
                double vk = vi[k];
                if (vk != 0.0) {
                    double[] row = b[k];
                    for (int c = 0; c < d; c++) {
                        dots[c] += vk * row[c];
                    }
                }
            }
            for (int k = i; k < d; k++) {
                double f = tau[i] * vi[k];
                if (f != 0.0) {
                    double[] row = b[k];
                    for (int c = 0; c < d; c++) {
                        row[c] -= f * dots[c];
                    }
                }
            }
        }
        float[] out = new float[d * d];
        for (int k = 0; k < d; k++) {
            for (int c = 0; c < d; c++) {
                out[k * d + c] = c < r ? r0[k * r + c] : (float) b[k][c];
            }
        }
        return out;
    }
}

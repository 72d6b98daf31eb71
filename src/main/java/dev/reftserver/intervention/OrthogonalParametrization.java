package dev.reftserver.intervention;

/**
 * Rebuilds S from torch's {@code orthogonal} parametrization as pyreft's default state dicts save it
 * ({@code rotate_layer.parametrizations.weight.original} X [d,r] and {@code ...weight.0.base} B [d,d]), the way
 * {@code torch.nn.utils.parametrizations._Orthogonal.forward} computes it for a tall matrix with the householder
 * map: A = tril(X, -1); tau_i = 2 / (1 + sum A[:,i]^2); Q = householder_product(A, tau) = H_0 H_1 ... H_{r-1}
 * I[:, :r] with H_i = I - tau_i v_i v_i^T and v_i = A[:,i] with a unit i-th entry; each column of Q times
 * int(X[i,i]) (truncation, +-1 in practice); S = B Q. Done in double precision, rounded to fp32 once.
 */
final class OrthogonalParametrization {

    private OrthogonalParametrization() {
    }

    /** @throws BundleRejectedException if shapes do not fit a tall [d,r] parametrization */
    static FloatTensor rebuild(FloatTensor original, FloatTensor base, String where) {
        if (original.rank() != 2 || base.rank() != 2) {
            throw shape(where, "original " + original.shapeText() + " and base " + base.shapeText()
                    + " must both be matrices");
        }
        int d = original.dim(0);
        int r = original.dim(1);
        if (r >= d) {
            // torch uses matrix_exp (square) or a transposed map (wide) there, never householder
            throw shape(where, "original " + original.shapeText() + " is not tall (rank < hidden size); only"
                    + " torch's householder map for [d, r] with r < d is supported");
        }
        if (!base.hasShape(d, d)) {
            throw shape(where, "base " + base.shapeText() + " should be [" + d + ", " + d + "]");
        }
        float[] x = original.data();
        double[][] q = new double[d][r];
        for (int i = 0; i < r; i++) {
            q[i][i] = 1.0;
        }
        // Q = H_0 (H_1 (... (H_{r-1} I[:, :r])))
        for (int i = r - 1; i >= 0; i--) {
            double sumSq = 0;
            for (int k = i + 1; k < d; k++) {
                double a = x[k * r + i];
                sumSq += a * a;
            }
            double tau = 2.0 / (1.0 + sumSq);
            for (int c = 0; c < r; c++) {
                double dot = q[i][c];
                for (int k = i + 1; k < d; k++) {
                    dot += x[k * r + i] * q[k][c];
                }
                double f = tau * dot;
                q[i][c] -= f;
                for (int k = i + 1; k < d; k++) {
                    q[k][c] -= f * x[k * r + i];
                }
            }
        }
        for (int i = 0; i < r; i++) {
            int sign = (int) x[i * r + i]; // torch: X.diagonal().int(), truncation toward zero
            for (int k = 0; k < d; k++) {
                q[k][i] *= sign;
            }
        }
        float[] b = base.data();
        float[] s = new float[d * r];
        double[] acc = new double[r];
        for (int row = 0; row < d; row++) {
            java.util.Arrays.fill(acc, 0.0);
            for (int k = 0; k < d; k++) {
                double bk = b[row * d + k];
                if (bk != 0.0) {
                    double[] qk = q[k];
                    for (int c = 0; c < r; c++) {
                        acc[c] += bk * qk[c];
                    }
                }
            }
            for (int c = 0; c < r; c++) {
                s[row * r + c] = (float) acc[c];
            }
        }
        return FloatTensor.of(s, d, r);
    }

    private static BundleRejectedException shape(String where, String what) {
        return new BundleRejectedException("tensor_shape", where + ": orthogonal parametrization " + what);
    }
}

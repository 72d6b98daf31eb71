package dev.reftserver.intervention;

/**
 * Rebuilds S from torch's {@code orthogonal} parametrization as pyreft's default state dicts save it
 * ({@code rotate_layer.parametrizations.weight.original} X [d,r] and {@code ...weight.0.base} B [d,d]), the way
 * {@code torch.nn.utils.parametrizations._Orthogonal.forward} computes it for a tall matrix with the householder
 * map: A = tril(X, -1); tau_i = 2 / (1 + sum A[:,i]^2); Q = householder_product(A, tau) = H_0 H_1 ... H_{r-1}
 * I[:, :r] with H_i = I - tau_i v_i v_i^T and v_i = A[:,i] with a unit i-th entry; each column of Q times
 * int(X[i,i]) (truncation, +-1 in practice); S = B Q. Done in double precision, rounded to fp32 once.
 *
 * <p>The other way, {@link #of} gives the tensors torch's own {@code right_inverse} stores when a layer whose weight
 * is S gets the parametrization (and pyreft's LoReFT {@code load_state_dict} builds): X = -I[:, :r], whose
 * reflectors are all e_i with tau 2 so that Q = I[:, :r], and B = [S | C], S completed to an orthogonal matrix.
 */
final class OrthogonalParametrization {

    /** The saved form of S: {@code parametrizations.weight.original} X [d,r] and {@code ...weight.0.base} B [d,d]. */
    record Saved(FloatTensor original, FloatTensor base) {
    }

    private OrthogonalParametrization() {
    }

    /**
     * X = -I[:, :r] and B = [S | C], where C's d - r orthonormal columns span the orthogonal complement of S's
     * columns (the trailing columns of a Householder QR of S, in double). B's first r columns are S's values
     * exactly, so {@link #rebuild} gives S back bit for bit.
     *
     * @param s [d,r] with orthonormal columns, r < d
     */
    static Saved of(FloatTensor s) {
        int d = s.dim(0);
        int r = s.dim(1);
        if (r >= d) {
            throw new IllegalArgumentException("S " + s.shapeText() + " is not tall");
        }
        float[] sv = s.data();
        double[][] a = new double[d][r];
        for (int k = 0; k < d; k++) {
            for (int j = 0; j < r; j++) {
                a[k][j] = sv[k * r + j];
            }
        }
        // Householder QR (LAPACK's dgeqrf convention): reflector j is v_j (unit j-th entry) with tau_j
        double[][] v = new double[r][];
        double[] tau = new double[r];
        for (int j = 0; j < r; j++) {
            double norm = 0;
            for (int k = j; k < d; k++) {
                norm += a[k][j] * a[k][j];
            }
            norm = Math.sqrt(norm);
            double alpha = a[j][j];
            double beta = alpha >= 0 ? -norm : norm;
            v[j] = new double[d];
            v[j][j] = 1.0;
            for (int k = j + 1; k < d; k++) {
                v[j][k] = a[k][j] / (alpha - beta);
            }
            tau[j] = (beta - alpha) / beta;
            for (int c = j; c < r; c++) {
                reflect(a, c, v[j], tau[j], j, d);
            }
        }
        float[] base = new float[d * d];
        for (int k = 0; k < d; k++) {
            System.arraycopy(sv, k * r, base, k * d, r);
        }
        double[] q = new double[d];
        for (int c = r; c < d; c++) {
            // column c of H_0 H_1 ... H_{r-1}: orthogonal to every column of S
            java.util.Arrays.fill(q, 0.0);
            q[c] = 1.0;
            for (int j = r - 1; j >= 0; j--) {
                double dot = 0;
                for (int k = j; k < d; k++) {
                    dot += v[j][k] * q[k];
                }
                double f = tau[j] * dot;
                for (int k = j; k < d; k++) {
                    q[k] -= f * v[j][k];
                }
            }
            for (int k = 0; k < d; k++) {
                base[k * d + c] = (float) q[k];
            }
        }
        float[] original = new float[d * r];
        for (int i = 0; i < r; i++) {
            original[i * r + i] = -1f;
        }
        return new Saved(FloatTensor.of(original, d, r), FloatTensor.of(base, d, d));
    }

    private static void reflect(double[][] a, int c, double[] v, double tau, int from, int d) {
        double dot = 0;
        for (int k = from; k < d; k++) {
            dot += v[k] * a[k][c];
        }
        double f = tau * dot;
        for (int k = from; k < d; k++) {
            a[k][c] -= f * v[k];
        }
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

package dev.reftserver.intervention;

/**
 * Every type as {@code h' = h + A^T (act(W h + b) - m (A h) - e)}: A, W [rank, hidden] row-major, b, e [rank],
 * m 0 or 1. Exact for all six types: LoReFT A = S^T, m = 1; DiReFT A = S^T, m = 0; NodiReFT A = P, m = 0; NoReFT
 * A = P, m = 1, e = p; ConsReFT A = S^T, W = 0, linear, m = 1; LobiReFT A = S^T, W = 0, linear, m = 0.
 */
record PackedIntervention(Activation act, int rank, int hiddenSize, float[] a, float[] w, float[] b, float[] e,
        float m) {
}

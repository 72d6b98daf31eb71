package dev.reftserver.intervention;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * NoReFT: h + P^T (act(W h + b) - (P h + p)) with P = {@code proj_layer.weight} and p its bias when pyreft built
 * it with {@code add_bias=True} (null otherwise). pyreft:
 * {@code base + (act(learned_source(base)) - proj_layer(base)) @ proj_layer.weight}.
 */
record NoreftIntervention(int layer, ApplyTo applyTo, Activation act, FloatTensor proj, FloatTensor weight,
        FloatTensor bias, FloatTensor projBias) implements Intervention {

    @Override
    public ReftType type() {
        return ReftType.NOREFT;
    }

    @Override
    public int rank() {
        return proj.dim(0);
    }

    @Override
    public int hiddenSize() {
        return proj.dim(1);
    }

    @Override
    public Map<String, FloatTensor> tensors() {
        Map<String, FloatTensor> t = new LinkedHashMap<>();
        t.put(ReftType.PROJ, proj);
        t.put(ReftType.WEIGHT, weight);
        t.put(ReftType.BIAS, bias);
        if (projBias != null) {
            t.put(ReftType.PROJ_BIAS, projBias);
        }
        return t;
    }

    @Override
    public float[] apply(float[] h) {
        double[] z = Intervention.learnedSource(weight, bias, act, h);
        double[] ph = Intervention.rowsTimes(proj, h);
        for (int j = 0; j < z.length; j++) {
            z[j] -= ph[j] + (projBias == null ? 0.0 : projBias.data()[j]);
        }
        return Intervention.plusRowsTransposed(h, proj, z);
    }

    @Override
    public PackedIntervention pack() {
        int r = rank();
        float[] e = projBias == null ? new float[r] : projBias.data();
        return new PackedIntervention(act, r, hiddenSize(), proj.data(), weight.data(), bias.data(), e, 1f);
    }
}

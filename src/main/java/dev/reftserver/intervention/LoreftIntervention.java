package dev.reftserver.intervention;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LoReFT, the paper's eq. (2): h + R^T (W h + b - R h) with R = S^T. pyreft:
 * {@code base + (act(learned_source(base)) - rotate_layer(base)) @ rotate_layer.weight.T}.
 */
record LoreftIntervention(int layer, ApplyTo applyTo, Activation act, FloatTensor rotate, FloatTensor weight,
        FloatTensor bias) implements Intervention {

    @Override
    public ReftType type() {
        return ReftType.LOREFT;
    }

    @Override
    public int rank() {
        return rotate.dim(1);
    }

    @Override
    public int hiddenSize() {
        return rotate.dim(0);
    }

    @Override
    public Map<String, FloatTensor> tensors() {
        Map<String, FloatTensor> t = new LinkedHashMap<>();
        t.put(ReftType.ROTATE, rotate);
        t.put(ReftType.WEIGHT, weight);
        t.put(ReftType.BIAS, bias);
        return t;
    }

    @Override
    public float[] apply(float[] h) {
        double[] z = Intervention.learnedSource(weight, bias, act, h);
        double[] rh = Intervention.columnsTimes(rotate, h);
        for (int j = 0; j < z.length; j++) {
            z[j] -= rh[j];
        }
        return Intervention.plusColumns(h, rotate, z);
    }

    @Override
    public PackedIntervention pack() {
        int r = rank();
        return new PackedIntervention(act, r, hiddenSize(), rotate.transpose2d().data(), weight.data(),
                bias.data(), new float[r], 1f);
    }
}

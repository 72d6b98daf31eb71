package dev.reftserver.intervention;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * DiReFT: h + R^T act(W h + b). pyreft:
 * {@code base + act(learned_source(base)) @ rotate_layer.weight.T} (no projection of h is removed).
 */
record DireftIntervention(int layer, ApplyTo applyTo, Activation act, FloatTensor rotate, FloatTensor weight,
        FloatTensor bias) implements Intervention {

    @Override
    public ReftType type() {
        return ReftType.DIREFT;
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
        return Intervention.plusColumns(h, rotate, Intervention.learnedSource(weight, bias, act, h));
    }

    @Override
    public PackedIntervention pack() {
        int r = rank();
        return new PackedIntervention(act, r, hiddenSize(), rotate.transpose2d().data(), weight.data(),
                bias.data(), new float[r], 0f);
    }
}

package dev.reftserver.intervention;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * NodiReFT (the paper's DiReFT): h + P^T act(W h + b) with P = {@code proj_layer.weight}, unconstrained. pyreft:
 * {@code base + act(learned_source(base)) @ proj_layer.weight}; the proj layer's bias, if any, is never used.
 */
record NodireftIntervention(int layer, ApplyTo applyTo, Activation act, FloatTensor proj, FloatTensor weight,
        FloatTensor bias) implements Intervention {

    @Override
    public ReftType type() {
        return ReftType.NODIREFT;
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
        return t;
    }

    @Override
    public float[] apply(float[] h) {
        return Intervention.plusRowsTransposed(h, proj, Intervention.learnedSource(weight, bias, act, h));
    }

    @Override
    public PackedIntervention pack() {
        int r = rank();
        return new PackedIntervention(act, r, hiddenSize(), proj.data(), weight.data(), bias.data(),
                new float[r], 0f);
    }
}

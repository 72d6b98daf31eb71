package dev.reftserver.intervention;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LobiReFT: h + R^T b, a learned constant shift inside the rotated subspace. pyreft:
 * {@code base + learned_source @ rotate_layer.weight.T}.
 */
record LobireftIntervention(int layer, ApplyTo applyTo, FloatTensor rotate, FloatTensor bias)
        implements Intervention {

    @Override
    public ReftType type() {
        return ReftType.LOBIREFT;
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
        t.put(ReftType.BIAS, bias);
        return t;
    }

    @Override
    public float[] apply(float[] h) {
        double[] z = new double[rank()];
        for (int j = 0; j < z.length; j++) {
            z[j] = bias.data()[j];
        }
        return Intervention.plusColumns(h, rotate, z);
    }

    @Override
    public PackedIntervention pack() {
        int r = rank();
        return new PackedIntervention(Activation.LINEAR, r, hiddenSize(), rotate.transpose2d().data(),
                new float[r * hiddenSize()], bias.data(), new float[r], 0f);
    }
}

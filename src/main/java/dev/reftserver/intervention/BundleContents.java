package dev.reftserver.intervention;

import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A native bundle's content as plain arrays, for code outside this package that computes new tensor values (the
 * trainer) and needs them back as a canonical, validated native zip. The types' math stays here; this is only
 * their data.
 *
 * @param interventions in bundle order (pyvene's {@code sorted_keys} order)
 */
public record BundleContents(int hiddenSize, int numLayers, PositionSpec positions, boolean shareWeights,
        List<Entry> interventions) {

    /** One tensor, row-major fp32. */
    public record Tensor(int[] shape, float[] data) {
    }

    /**
     * One intervention.
     *
     * @param type    native type name ({@code loreft}, {@code direft}, ...)
     * @param act     activation name ({@code linear} unless the type has a learned source with another one)
     * @param tensors by role ({@code rotate}, {@code weight}, {@code bias}, {@code proj}, {@code proj_bias})
     */
    public record Entry(int layer, String type, ApplyTo applyTo, String act, int rank, Map<String, Tensor> tensors) {

        public Entry {
            tensors = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        }

        /** The same intervention with other values for some tensors (same roles and shapes). */
        public Entry with(Map<String, float[]> values) {
            Map<String, Tensor> next = new LinkedHashMap<>(tensors);
            values.forEach((role, data) -> {
                Tensor old = tensors.get(role);
                if (old == null || old.data().length != data.length) {
                    throw new IllegalArgumentException("no tensor '" + role + "' of " + data.length + " values");
                }
                next.put(role, new Tensor(old.shape(), data));
            });
            return new Entry(layer, type, applyTo, act, rank, next);
        }
    }

    public BundleContents {
        interventions = List.copyOf(interventions);
    }

    /**
     * @throws BundleRejectedException if the bytes are not a valid native bundle for {@code shape}
     */
    public static BundleContents read(byte[] nativeZip, ModelShape shape, BundleLimits limits) {
        ReftBundle bundle = NativeBundleFormat.readZip(nativeZip, limits, "bundle");
        BundleValidator.validate(bundle, shape, limits, "bundle");
        List<Entry> entries = new ArrayList<>();
        for (Intervention iv : bundle.interventions()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            iv.tensors().forEach((role, t) -> tensors.put(role, new Tensor(t.shape().clone(), t.data().clone())));
            entries.add(new Entry(iv.layer(), iv.type().wireName(), iv.applyTo(), iv.act().wireName(), iv.rank(),
                    tensors));
        }
        return new BundleContents(bundle.hiddenSize(), bundle.numLayers(), bundle.positions(), bundle.shareWeights(),
                entries);
    }

    /** The same bundle with other interventions (same base model and positions). */
    public BundleContents withInterventions(List<Entry> next) {
        return new BundleContents(hiddenSize, numLayers, positions, shareWeights, next);
    }

    /**
     * The canonical native zip, validated as an upload would be.
     *
     * @throws BundleRejectedException if the values do not make a valid bundle (e.g. non-finite, S not orthonormal)
     */
    public byte[] toNativeZip(BundleLimits limits) {
        List<Intervention> list = new ArrayList<>();
        for (int i = 0; i < interventions.size(); i++) {
            Entry e = interventions.get(i);
            String where = "intervention " + i;
            ReftType type = ReftType.fromWireName(e.type(), where);
            Map<String, FloatTensor> roles = new LinkedHashMap<>();
            e.tensors().forEach((role, t) -> roles.put(role, FloatTensor.of(t.data(), t.shape())));
            list.add(type.create(e.layer(), e.applyTo(), Activation.fromWireName(e.act(), where), roles));
        }
        ReftBundle bundle = new ReftBundle(hiddenSize, numLayers, positions, shareWeights, list);
        BundleValidator.validate(bundle, new ModelShape(hiddenSize, numLayers), limits, "bundle");
        return NativeBundleFormat.write(bundle);
    }
}

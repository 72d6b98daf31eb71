package dev.reftserver.intervention;

import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The checks every bundle passes before anyone may see it, whatever format it came in: base model shape, layer
 * range, ranks, tensor shapes, finite values, orthonormal S, one known type, activations, positions.
 */
final class BundleValidator {

    /** Max |S^T S - I| accepted for a rotation's columns. */
    static final double ORTHONORMAL_TOLERANCE = 1e-3;

    /** What a bundle declares about one intervention before its tensors are read. */
    record Declared(int layer, ReftType type, int rank) {
    }

    private BundleValidator() {
    }

    /**
     * Refuses a bundle whose parameters would expand past {@link BundleLimits#maxParameterBytes()}, counted in
     * {@code long} from what it declares, before any tensor is decoded, validated, written or packed: one copy per
     * intervention as the stored form writes them (shared tensors count once for each intervention naming them;
     * each at the most its type may hold), and {@code k x r_max x (2d + 3)} fp32 values per layer as
     * {@link LoadedBundle} packs them on the device.
     *
     * @throws BundleRejectedException {@code too_large} (413) past the limits, {@code rank} for a rank outside
     *     1..hidden
     */
    static void checkSize(List<Declared> declared, int hiddenSize, BundleLimits limits, String source) {
        if (declared.size() > limits.maxInterventions()) {
            throw new BundleRejectedException("too_large", source + ": " + declared.size()
                    + " interventions, more than the limit of " + limits.maxInterventions(), true);
        }
        long d = hiddenSize;
        long stored = 0;
        Map<Integer, long[]> layers = new TreeMap<>(); // layer -> {interventions, max rank}
        for (int i = 0; i < declared.size(); i++) {
            Declared iv = declared.get(i);
            if (iv.rank() < 1 || iv.rank() > hiddenSize) {
                throw new BundleRejectedException("rank", source + ": intervention " + i + " has rank " + iv.rank()
                        + "; it must be between 1 and the hidden size " + hiddenSize);
            }
            long r = iv.rank();
            // rotate or proj [d, r]; weight [r, d] and bias [r], or a bare [r]; NoReFT's optional proj bias [r]
            stored += 4 * (r * d * (iv.type().hasWeight() ? 2 : 1) + 2 * r); // r, d < 2^31: no overflow
            long[] layer = layers.computeIfAbsent(iv.layer(), l -> new long[2]);
            layer[0]++;
            layer[1] = Math.max(layer[1], r);
        }
        long device = 0;
        for (long[] layer : layers.values()) {
            device += 4 * layer[0] * layer[1] * (2 * d + 3); // < 2^12 * 2^31 * 2^33 once d, r < 2^31, k < 2^31
        }
        if (stored > limits.maxParameterBytes() || device > limits.maxParameterBytes()) {
            throw new BundleRejectedException("too_large", source + ": " + declared.size() + " interventions expand"
                    + " to " + Math.max(stored, device) + " bytes of fp32 parameters (" + stored + " stored, "
                    + device + " packed for serving), more than the limit of " + limits.maxParameterBytes(), true);
        }
    }

    static void validate(ReftBundle bundle, ModelShape shape, BundleLimits limits, String source) {
        int d = shape.hiddenSize();
        if (bundle.hiddenSize() != d || bundle.numLayers() != shape.numLayers()) {
            throw new BundleRejectedException("shape_mismatch", source + ": made for a base model with hidden size "
                    + bundle.hiddenSize() + " and " + bundle.numLayers() + " layers, but this server's model has"
                    + " hidden size " + d + " and " + shape.numLayers() + " layers");
        }
        List<Intervention> all = bundle.interventions();
        if (all.isEmpty()) {
            throw new BundleRejectedException("bundle_format", source + ": holds no interventions");
        }
        List<Declared> declared = new ArrayList<>();
        for (Intervention iv : all) {
            declared.add(new Declared(iv.layer(), iv.type(), iv.rank()));
        }
        checkSize(declared, d, limits, source);
        // tensors shared between interventions are checked once
        Set<FloatTensor> finite = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<FloatTensor> orthonormal = Collections.newSetFromMap(new IdentityHashMap<>());
        ReftType type = all.get(0).type();
        for (int i = 0; i < all.size(); i++) {
            Intervention iv = all.get(i);
            String where = source + ": intervention " + i + " (" + iv.type().wireName() + ", layer " + iv.layer()
                    + ")";
            if (iv.type() != type) {
                throw new BundleRejectedException("mixed_types", where + ": a bundle holds one type, but it mixes "
                        + type.wireName() + " and " + iv.type().wireName());
            }
            if (iv.layer() < 0 || iv.layer() >= shape.numLayers()) {
                throw new BundleRejectedException("layer_range", where + ": layer " + iv.layer()
                        + " is outside the base model's layers 0.." + (shape.numLayers() - 1));
            }
            checkTensors(iv, d, where, finite, orthonormal);
            if (!iv.type().hasWeight() && iv.act() != Activation.LINEAR) {
                throw new BundleRejectedException("activation",
                        where + ": " + iv.type().wireName() + " has no activation, got " + iv.act().wireName());
            }
            if (iv.applyTo() == ApplyTo.FIRST && !bundle.positions().hasFirst()
                    || iv.applyTo() == ApplyTo.LAST && !bundle.positions().hasLast()) {
                throw new BundleRejectedException("positions", where + ": apply_to " + iv.applyTo().wireName()
                        + " selects nothing with positions " + bundle.positions());
            }
        }
    }

    private static void checkTensors(Intervention iv, int d, String where, Set<FloatTensor> finite,
            Set<FloatTensor> orthonormal) {
        Map<String, FloatTensor> t = iv.tensors();
        String primary = iv.type().hasRotate() ? ReftType.ROTATE : ReftType.PROJ;
        FloatTensor p = t.get(primary);
        for (String role : iv.type().requiredTensors()) {
            if (t.get(role) == null) {
                throw new BundleRejectedException("tensor_shape", where + ": tensor '" + role + "' is missing");
            }
        }
        if (p.rank() != 2) {
            throw new BundleRejectedException("tensor_shape",
                    where + ": tensor '" + primary + "' " + p.shapeText() + " is not a matrix");
        }
        int r = iv.rank();
        int hidden = iv.hiddenSize();
        if (hidden != d) {
            throw new BundleRejectedException("shape_mismatch", where + ": tensor '" + primary + "' "
                    + p.shapeText() + " is for hidden size " + hidden + ", the base model has " + d);
        }
        if (r < 1 || r > d) {
            throw new BundleRejectedException("rank", where + ": rank " + r + " must be between 1 and the hidden"
                    + " size " + d);
        }
        for (Map.Entry<String, FloatTensor> e : t.entrySet()) {
            int[] expected = switch (e.getKey()) {
                case ReftType.ROTATE -> new int[] {d, r};
                case ReftType.WEIGHT, ReftType.PROJ -> new int[] {r, d};
                case ReftType.BIAS, ReftType.PROJ_BIAS -> new int[] {r};
                default -> throw new IllegalStateException(e.getKey());
            };
            if (!e.getValue().hasShape(expected)) {
                throw new BundleRejectedException("tensor_shape", where + ": tensor '" + e.getKey() + "' is "
                        + e.getValue().shapeText() + ", expected " + java.util.Arrays.toString(expected));
            }
            if (!finite.add(e.getValue())) {
                continue;
            }
            int bad = e.getValue().firstNonFinite();
            if (bad >= 0) {
                throw new BundleRejectedException("non_finite", where + ": tensor '" + e.getKey() + "' holds "
                        + e.getValue().data()[bad] + " at flat index " + bad);
            }
        }
        if (iv.type().hasRotate() && orthonormal.add(t.get(ReftType.ROTATE))) {
            double err = orthonormalityError(t.get(ReftType.ROTATE));
            if (!(err <= ORTHONORMAL_TOLERANCE)) {
                throw new BundleRejectedException("not_orthonormal", where + ": tensor 'rotate' does not have"
                        + " orthonormal columns: max |S^T S - I| = " + err + " > " + ORTHONORMAL_TOLERANCE);
            }
        }
    }

    /** max over (i, j) of |(S^T S)_ij - delta_ij|, in double. */
    static double orthonormalityError(FloatTensor s) {
        int d = s.dim(0);
        int r = s.dim(1);
        float[] a = s.data();
        double[] gram = new double[r * r];
        for (int k = 0; k < d; k++) {
            for (int i = 0; i < r; i++) {
                double ai = a[k * r + i];
                for (int j = i; j < r; j++) {
                    gram[i * r + j] += ai * a[k * r + j];
                }
            }
        }
        double max = 0;
        for (int i = 0; i < r; i++) {
            for (int j = i; j < r; j++) {
                max = Math.max(max, Math.abs(gram[i * r + j] - (i == j ? 1.0 : 0.0)));
            }
        }
        return max;
    }

    static List<String> unknownRoles(ReftType type, Iterable<String> roles) {
        List<String> unknown = new ArrayList<>();
        for (String role : roles) {
            if (!type.requiredTensors().contains(role) && !type.optionalTensors().contains(role)) {
                unknown.add(role);
            }
        }
        return unknown;
    }
}

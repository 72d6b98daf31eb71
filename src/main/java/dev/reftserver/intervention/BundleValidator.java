package dev.reftserver.intervention;

import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The checks every bundle passes before anyone may see it, whatever format it came in: base model shape, layer
 * range, ranks, tensor shapes, finite values, orthonormal S, one known type, activations, positions.
 */
final class BundleValidator {

    /** Max |S^T S - I| accepted for a rotation's columns. */
    static final double ORTHONORMAL_TOLERANCE = 1e-3;

    /** More than this many interventions is not a plausible bundle. */
    static final int MAX_INTERVENTIONS = 4096;

    private BundleValidator() {
    }

    static void validate(ReftBundle bundle, ModelShape shape, String source) {
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
        if (all.size() > MAX_INTERVENTIONS) {
            throw new BundleRejectedException("too_large",
                    source + ": " + all.size() + " interventions, more than " + MAX_INTERVENTIONS, true);
        }
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
            checkTensors(iv, d, where);
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

    private static void checkTensors(Intervention iv, int d, String where) {
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
            int bad = e.getValue().firstNonFinite();
            if (bad >= 0) {
                throw new BundleRejectedException("non_finite", where + ": tensor '" + e.getKey() + "' holds "
                        + e.getValue().data()[bad] + " at flat index " + bad);
            }
        }
        if (iv.type().hasRotate()) {
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

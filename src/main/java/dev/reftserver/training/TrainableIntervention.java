package dev.reftserver.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.model.ops.Constants;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One intervention of a bundle being trained: its trainable tensors and its edit as a differentiable function.
 * A rotation S is not a parameter: as in pyreft (torch's {@code orthogonal} parametrization, householder map with
 * dynamic trivialization) the trainable tensor is X [d,r] and S = B Q(X), with A = tril(X, -1),
 * tau_i = 2 / (1 + |A[:,i]|^2), Q = H_0 ... H_{r-1} I[:, :r] with H_i = I - tau_i v_i v_i^T, v_i = e_i + A[:,i],
 * each column of Q times trunc(X[i,i]); B [d,d] is fixed. Starting from a bundle's S0, X0 = -I and
 * B0 = {@link OrthogonalCompletion#complete}, so that S(X0) = S0.
 *
 * <p>The edits, in pyreft's row form (h [k,d]): loreft h + (h W^T + b - h S) S^T; direft h + (h W^T + b) S^T;
 * nodireft h + (h W^T + b) P; noreft h + (h W^T + b - (h P^T + p)) P; consreft h + (b - h S) S^T;
 * lobireft h + b S^T. Only the linear activation is trainable.
 */
final class TrainableIntervention {

    static final String X = "original";

    private final BundleContents.Entry entry;
    private final int d;
    private final int r;
    private final float[] base;
    private final List<Parameter> params = new ArrayList<>();

    TrainableIntervention(BundleContents.Entry entry, int hiddenSize) {
        if (!"linear".equals(entry.act())) {
            throw new IllegalArgumentException("only interventions with the linear activation can be trained, not "
                    + entry.act());
        }
        this.entry = entry;
        this.d = hiddenSize;
        this.r = entry.rank();
        BundleContents.Tensor rotate = entry.tensors().get("rotate");
        if (rotate != null) {
            base = OrthogonalCompletion.complete(rotate.data(), d, r);
            float[] x = new float[d * r];
            for (int i = 0; i < r; i++) {
                x[i * r + i] = -1f;
            }
            params.add(Parameter.of(X, new int[] {d, r}, x, false));
        } else {
            base = null;
        }
        for (Map.Entry<String, BundleContents.Tensor> e : entry.tensors().entrySet()) {
            String role = e.getKey();
            if (!role.equals("rotate")) {
                boolean matrix = role.equals("weight") && e.getValue().shape().length == 2 || role.equals("proj");
                params.add(Parameter.of(role, e.getValue().shape(), e.getValue().data(), matrix));
            }
        }
    }

    int layer() {
        return entry.layer();
    }

    BundleContents.Entry entry() {
        return entry;
    }

    List<Parameter> parameters() {
        return params;
    }

    Parameter parameter(String name) {
        for (Parameter p : params) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        return null;
    }

    float[] base() {
        return base;
    }

    /** The parameters as arrays of {@code step} that record gradients, for one forward and backward. */
    Live attach(NDManager step) {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (Parameter p : params) {
            NDArray a = step.create(p.value(), new Shape(p.longShape()));
            a.setRequiresGradient(true);
            arrays.put(p.name(), a);
        }
        NDArray rotation = null;
        if (base != null) {
            rotation = rotation(step, arrays.get(X), parameter(X).value());
        }
        return new Live(arrays, rotation);
    }

    /** S = B Q(X) as torch's parametrization computes it, differentiable in X. */
    private NDArray rotation(NDManager step, NDArray x, float[] xValues) {
        float[] lower = new float[d * r];
        float[] signs = new float[r];
        float[] identity = new float[d * r];
        for (int i = 0; i < r; i++) {
            signs[i] = (int) xValues[i * r + i]; // X.diagonal().int(): truncation, no gradient
            identity[i * r + i] = 1f;
            for (int k = i + 1; k < d; k++) {
                lower[k * r + i] = 1f;
            }
        }
        NDArray a = x.mul(step.create(lower, new Shape(d, r)));
        NDArray tau = a.mul(a).sum(new int[] {0}).add(Constants.of(step, 1f)).pow(Constants.of(step, -1f))
                .mul(Constants.of(step, 2f));
        NDArray q = step.create(identity, new Shape(d, r));
        for (int i = r - 1; i >= 0; i--) {
            float[] unit = new float[d];
            unit[i] = 1f;
            NDArray v = a.get(":, " + i + ":" + (i + 1)).add(step.create(unit, new Shape(d, 1)));
            q = q.sub(v.matMul(v.transpose().matMul(q)).mul(tau.get(i)));
        }
        q = q.mul(step.create(signs, new Shape(1, r)));
        return step.create(base, new Shape(d, d)).matMul(q);
    }

    /** The parameters of one step on the device. */
    final class Live {

        private final Map<String, NDArray> arrays;
        private final NDArray rotation;

        Live(Map<String, NDArray> arrays, NDArray rotation) {
            this.arrays = arrays;
            this.rotation = rotation;
        }

        /** What the intervention adds to rows h [k, d] (h' = h + change, as pyreft adds it to its base). */
        NDArray change(NDArray h) {
            NDArray w = arrays.get("weight");
            NDArray b = arrays.get("bias");
            NDArray p = arrays.get("proj");
            return switch (entry.type()) {
                case "loreft" -> h.matMul(w.transpose()).add(b).sub(h.matMul(rotation)).matMul(rotation.transpose());
                case "direft" -> h.matMul(w.transpose()).add(b).matMul(rotation.transpose());
                case "nodireft" -> h.matMul(w.transpose()).add(b).matMul(p);
                case "noreft" -> {
                    NDArray projected = h.matMul(p.transpose());
                    NDArray pb = arrays.get("proj_bias");
                    if (pb != null) {
                        projected = projected.add(pb);
                    }
                    yield h.matMul(w.transpose()).add(b).sub(projected).matMul(p);
                }
                case "consreft" -> b.reshape(1, r).sub(h.matMul(rotation)).matMul(rotation.transpose());
                case "lobireft" -> b.reshape(1, r).matMul(rotation.transpose()).broadcast(h.getShape());
                default -> throw new IllegalStateException("unknown type " + entry.type());
            };
        }

        /** Each parameter's gradient after backward, in {@link #parameters()} order. */
        List<float[]> gradients() {
            List<float[]> out = new ArrayList<>();
            for (Parameter p : params) {
                out.add(arrays.get(p.name()).getGradient().toFloatArray());
            }
            return out;
        }
    }

    /** The bundle entry with the current values (S materialised from X). */
    BundleContents.Entry toEntry(NDManager scratch) {
        Map<String, float[]> values = new HashMap<>();
        for (Parameter p : params) {
            if (!p.name().equals(X)) {
                values.put(p.name(), p.value().clone());
            }
        }
        if (base != null) {
            values.put("rotate", currentRotation(scratch));
        }
        return entry.with(values);
    }

    /** S at the current X, fp32 [d,r] row-major. */
    float[] currentRotation(NDManager scratch) {
        try (NDManager m = scratch.newSubManager()) {
            NDArray x = m.create(parameter(X).value(), new Shape(d, r));
            return rotation(m, x, parameter(X).value()).toFloatArray();
        }
    }
}

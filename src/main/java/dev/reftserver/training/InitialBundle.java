package dev.reftserver.training;

import dev.reftserver.intervention.ApplyTo;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.PositionSpec;
import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * A fresh, untrained bundle laid out as pyreft's training scripts lay it out: one intervention per layer, and with
 * positions {@code fN+lM} and untied weights the layers twice (the first copies edit the first positions, the
 * second copies the last ones). Values follow pyreft's initialisation in kind (not in random stream): S from the QR
 * of a Gaussian matrix ({@code orthogonal_}), learned-source and projection layers as {@code nn.Linear} does
 * (uniform in +-1/sqrt(d)), the learned bias of ConsReFT and LobiReFT uniform in [0, 1) ({@code torch.rand}).
 */
public final class InitialBundle {

    /** The ReFT types a job may train (native names). */
    public static final List<String> TYPES = List.of("loreft", "direft", "nodireft", "noreft", "consreft",
            "lobireft");

    private InitialBundle() {
    }

    /**
     * @throws IllegalArgumentException for an unknown type, a layer outside the model, or a rank outside [1, d)
     */
    public static BundleContents create(ModelShape shape, String type, List<Integer> layers, int rank,
            PositionSpec positions, boolean shareWeights, long seed) {
        int d = shape.hiddenSize();
        if (!TYPES.contains(type)) {
            throw new IllegalArgumentException("unknown intervention type '" + type + "' (known: "
                    + String.join(", ", TYPES) + ")");
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("no layers");
        }
        for (int layer : layers) {
            if (layer < 0 || layer >= shape.numLayers()) {
                throw new IllegalArgumentException("layer " + layer + " is not one of the model's layers 0 to "
                        + (shape.numLayers() - 1));
            }
        }
        if (rank < 1 || rank >= d) {
            throw new IllegalArgumentException("rank " + rank + " must be at least 1 and below the hidden size "
                    + d);
        }
        SplittableRandom random = new SplittableRandom(seed);
        List<BundleContents.Entry> entries = new ArrayList<>();
        boolean untied = !shareWeights && positions.hasBothGroups();
        List<ApplyTo> groups = untied ? List.of(ApplyTo.FIRST, ApplyTo.LAST) : List.of(ApplyTo.ALL);
        for (ApplyTo applyTo : groups) {
            for (int layer : layers) {
                entries.add(new BundleContents.Entry(layer, type, applyTo, "linear", rank,
                        tensors(type, d, rank, random)));
            }
        }
        return new BundleContents(d, shape.numLayers(), positions, shareWeights, entries);
    }

    private static Map<String, BundleContents.Tensor> tensors(String type, int d, int r, SplittableRandom random) {
        Map<String, BundleContents.Tensor> t = new LinkedHashMap<>();
        float bound = (float) (1.0 / Math.sqrt(d));
        boolean rotation = List.of("loreft", "direft", "consreft", "lobireft").contains(type);
        if (rotation) {
            t.put("rotate", new BundleContents.Tensor(new int[] {d, r}, orthonormalColumns(d, r, random)));
        } else {
            t.put("proj", new BundleContents.Tensor(new int[] {r, d}, uniform(r * d, -bound, bound, random)));
        }
        if (type.equals("consreft") || type.equals("lobireft")) {
            t.put("bias", new BundleContents.Tensor(new int[] {r}, uniform(r, 0f, 1f, random)));
            return t;
        }
        t.put("weight", new BundleContents.Tensor(new int[] {r, d}, uniform(r * d, -bound, bound, random)));
        t.put("bias", new BundleContents.Tensor(new int[] {r}, uniform(r, -bound, bound, random)));
        if (type.equals("noreft")) {
            t.put("proj_bias", new BundleContents.Tensor(new int[] {r}, uniform(r, -bound, bound, random)));
        }
        return t;
    }

    private static float[] uniform(int n, float lo, float hi, SplittableRandom random) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (lo + (hi - lo) * random.nextDouble());
        }
        return out;
    }

    /** Q of a Gaussian d x r matrix (Gram-Schmidt twice in double precision), the columns made orthonormal. */
    static float[] orthonormalColumns(int d, int r, SplittableRandom random) {
        Random gaussian = new Random(random.nextLong());
        double[][] q = new double[r][d];
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < d; k++) {
                q[j][k] = gaussian.nextGaussian();
            }
            for (int pass = 0; pass < 2; pass++) {
                for (int i = 0; i < j; i++) {
                    double dot = 0;
                    for (int k = 0; k < d; k++) {
                        dot += q[i][k] * q[j][k];
                    }
                    for (int k = 0; k < d; k++) {
                        q[j][k] -= dot * q[i][k];
                    }
                }
            }
            double norm = 0;
            for (int k = 0; k < d; k++) {
                norm += q[j][k] * q[j][k];
            }
            norm = Math.sqrt(norm);
            for (int k = 0; k < d; k++) {
                q[j][k] /= norm;
            }
        }
        float[] out = new float[d * r];
        for (int k = 0; k < d; k++) {
            for (int j = 0; j < r; j++) {
                out[k * r + j] = (float) q[j][k];
            }
        }
        return out;
    }
}

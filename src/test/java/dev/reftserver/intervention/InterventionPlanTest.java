package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The batched hook against a plain per-row computation: each row's interventions applied position by position with
 * {@link Intervention#apply} (double accumulation), in bundle order, layer after layer.
 */
class InterventionPlanTest {

    private static NDManager manager;
    private static Map<String, LoadedBundle> reference;

    @BeforeAll
    static void loadReferenceBundles() {
        manager = NDManager.newBaseManager();
        BundleImporter importer = new BundleImporter(BundleLimits.defaults());
        reference = new HashMap<>();
        for (String name : List.of("A", "B", "D")) {
            byte[] nativeZip = PyreftImportTest.importReference(importer, name, "").nativeZip();
            reference.put(name, LoadedBundle.load(nativeZip, PyreftImportTest.STORIES15M, BundleLimits.defaults(),
                    manager));
        }
    }

    @AfterAll
    static void close() {
        reference.values().forEach(LoadedBundle::close);
        manager.close();
    }

    private static float[] gaussian(Random rnd, int n) {
        return PyreftDirs.gaussian(rnd, n, 1.0);
    }

    /**
     * The per-row reference: hidden [B][T][d], edited in place layer by layer; at each layer a row's bundles in
     * its listed order, each intervention's {@code apply} scaled as h + s * (apply(h) - h) (in double).
     */
    static void referenceApply(float[][][] h, List<InterventionPlan.Row> rows, int numLayers) {
        for (int layer = 0; layer < numLayers; layer++) {
            for (int i = 0; i < rows.size(); i++) {
                for (ScaledBundle sb : rows.get(i).bundles()) {
                    LoadedBundle b = sb.bundle();
                    for (Intervention iv : b.bundle().interventions()) {
                        if (iv.layer() != layer) {
                            continue;
                        }
                        for (int pos : b.bundle().positions().positions(iv.applyTo(), rows.get(i).promptLength())) {
                            h[i][pos] = scaled(h[i][pos], iv.apply(h[i][pos]), sb.scale());
                        }
                    }
                }
            }
        }
    }

    static float[] scaled(float[] h, float[] edited, float s) {
        if (s == 1f) {
            return edited;
        }
        float[] out = new float[h.length];
        for (int k = 0; k < h.length; k++) {
            out[k] = (float) (h[k] + (double) s * ((double) edited[k] - h[k]));
        }
        return out;
    }

    private static float[][][] split(float[] flat, int batch, int tokens, int d) {
        float[][][] out = new float[batch][tokens][d];
        for (int i = 0; i < batch; i++) {
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(flat, (i * tokens + t) * d, out[i][t], 0, d);
            }
        }
        return out;
    }

    /** Runs the hook after every block, as the model does, and returns the final hidden states. */
    private static float[] runHook(InterventionPlan plan, float[] hidden, int batch, int tokens, int d, int layers) {
        try (NDManager step = manager.newSubManager()) {
            NDArray h = step.create(hidden, new Shape(batch, tokens, d));
            for (int layer = 0; layer < layers; layer++) {
                if (plan.touches(layer)) {
                    h = plan.afterBlock(layer, h);
                }
            }
            return h.toFloatArray();
        }
    }

    private static void assertClose(float[] got, float[][][] expected, float tol) {
        int batch = expected.length;
        int tokens = expected[0].length;
        int d = expected[0][0].length;
        for (int i = 0; i < batch; i++) {
            for (int t = 0; t < tokens; t++) {
                for (int k = 0; k < d; k++) {
                    float g = got[(i * tokens + t) * d + k];
                    if (Math.abs(g - expected[i][t][k]) > tol) {
                        assertThat(g).as("row %d position %d dim %d", i, t, k)
                                .isCloseTo(expected[i][t][k], within(tol));
                    }
                }
            }
        }
    }

    @Test
    void appliesReferenceBundlesRowByRowInOneMixedBatch() {
        int d = 288;
        int tokens = 20;
        List<InterventionPlan.Row> rows = List.of(
                new InterventionPlan.Row(reference.get("A"), 13),
                new InterventionPlan.Row((LoadedBundle) null, 9),
                new InterventionPlan.Row(reference.get("B"), 17),
                new InterventionPlan.Row(reference.get("D"), 4),
                new InterventionPlan.Row(reference.get("B"), 1),
                new InterventionPlan.Row(reference.get("A"), 2),
                new InterventionPlan.Row(reference.get("D"), 20),
                new InterventionPlan.Row((LoadedBundle) null, 20),
                new InterventionPlan.Row(reference.get("B"), 6));
        float[] hidden = gaussian(new Random(42), rows.size() * tokens * d);
        InterventionPlan plan = new InterventionPlan(rows);

        assertThat(List.of(0, 1, 2, 3, 4, 5).stream().filter(plan::touches).toList()).containsExactly(1, 2, 3, 5);
        float[] got = runHook(plan, hidden, rows.size(), tokens, d, 6);
        float[][][] expected = split(hidden, rows.size(), tokens, d);
        referenceApply(expected, rows, 6);
        assertClose(got, expected, 1e-5f);

        // untouched rows and positions are bit for bit the input
        float[][][] input = split(hidden, rows.size(), tokens, d);
        float[][][] output = split(got, rows.size(), tokens, d);
        assertThat(output[1]).isDeepEqualTo(input[1]);
        assertThat(output[4]).isDeepEqualTo(input[4]); // a 1-token prompt selects no position
        assertThat(output[7]).isDeepEqualTo(input[7]);
        assertThat(output[0][11]).containsExactly(input[0][11]);
        assertThat(output[0][12]).isNotEqualTo(input[0][12]); // A edits l1 = position 12 of 13
        assertThat(output[0][13]).containsExactly(input[0][13]); // padding stays as it was
    }

    @Test
    void composedRowsApplyEachBundleInListedOrderWithItsScaleBesideSingleAndBaseRows() {
        int d = 288;
        int tokens = 16;
        LoadedBundle a = reference.get("A");
        LoadedBundle b = reference.get("B");
        LoadedBundle dd = reference.get("D");
        List<InterventionPlan.Row> rows = List.of(
                new InterventionPlan.Row(List.of(new ScaledBundle(a, 1f), new ScaledBundle(b, 1f)), 14),
                new InterventionPlan.Row((LoadedBundle) null, 12),
                new InterventionPlan.Row(List.of(new ScaledBundle(b, 1f), new ScaledBundle(a, 1f)), 14),
                new InterventionPlan.Row(a, 16),
                new InterventionPlan.Row(List.of(new ScaledBundle(b, -0.5f), new ScaledBundle(dd, 0.7f),
                        new ScaledBundle(a, 2f)), 10),
                new InterventionPlan.Row(List.of(new ScaledBundle(b, 0f)), 9),
                new InterventionPlan.Row(List.of(new ScaledBundle(a, 1f), new ScaledBundle(a, -1f)), 8));
        float[] hidden = gaussian(new Random(7), rows.size() * tokens * d);
        float[] got = runHook(new InterventionPlan(rows), hidden, rows.size(), tokens, d, 6);
        float[][][] expected = split(hidden, rows.size(), tokens, d);
        referenceApply(expected, rows, 6);
        assertClose(got, expected, 1e-5f);

        float[][][] input = split(hidden, rows.size(), tokens, d);
        float[][][] output = split(got, rows.size(), tokens, d);
        assertThat(output[1]).isDeepEqualTo(input[1]);
        assertThat(output[5]).as("scale 0 leaves the row bit for bit").isDeepEqualTo(input[5]);
        // A then B differs from B then A wherever both edit one position at one layer.
        assertThat(output[0]).isNotEqualTo(output[2]);
    }

    // ---------- all six types, mixed ranks and activations ----------

    private static final int SD = 48;
    private static final ModelShape SMALL = new ModelShape(SD, 3);

    private static FloatTensor matrix(Random rnd, int rows, int cols, double scale) {
        return FloatTensor.of(PyreftDirs.gaussian(rnd, rows * cols, scale), rows, cols);
    }

    private static FloatTensor vector(Random rnd, int n) {
        return FloatTensor.of(PyreftDirs.gaussian(rnd, n, 0.5), n);
    }

    private static FloatTensor rotation(Random rnd, int r) {
        return PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, SD, r));
    }

    private static Intervention make(ReftType type, Random rnd, int layer, ApplyTo applyTo, int r, Activation act) {
        double ws = 1.0 / Math.sqrt(SD);
        return switch (type) {
            case LOREFT -> new LoreftIntervention(layer, applyTo, act, rotation(rnd, r), matrix(rnd, r, SD, ws),
                    vector(rnd, r));
            case DIREFT -> new DireftIntervention(layer, applyTo, act, rotation(rnd, r), matrix(rnd, r, SD, ws),
                    vector(rnd, r));
            case NODIREFT -> new NodireftIntervention(layer, applyTo, act, matrix(rnd, r, SD, ws),
                    matrix(rnd, r, SD, ws), vector(rnd, r));
            case NOREFT -> new NoreftIntervention(layer, applyTo, act, matrix(rnd, r, SD, ws), matrix(rnd, r, SD, ws),
                    vector(rnd, r), vector(rnd, r));
            case CONSREFT -> new ConsreftIntervention(layer, applyTo, rotation(rnd, r), vector(rnd, r));
            case LOBIREFT -> new LobireftIntervention(layer, applyTo, rotation(rnd, r), vector(rnd, r));
        };
    }

    private static LoadedBundle load(String positions, boolean share, List<Intervention> interventions) {
        ReftBundle bundle = new ReftBundle(SD, 3, PositionSpec.parse(positions), share, interventions);
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults())
                .importZip(NativeBundleFormat.write(bundle), SMALL, null, null);
        return LoadedBundle.load(imported.nativeZip(), SMALL, BundleLimits.defaults(), manager);
    }

    private static List<LoadedBundle> allSixTypes() {
        Random rnd = new Random(3);
        List<LoadedBundle> b = new ArrayList<>();
        // two LoReFTs at one layer on the same positions: they compose in bundle order
        b.add(load("f2+l2", true, List.of(
                make(ReftType.LOREFT, rnd, 0, ApplyTo.ALL, 4, Activation.GELU),
                make(ReftType.LOREFT, rnd, 0, ApplyTo.ALL, 4, Activation.LINEAR),
                make(ReftType.LOREFT, rnd, 2, ApplyTo.ALL, 4, Activation.GELU))));
        b.add(load("f3+l1", false, List.of(
                make(ReftType.DIREFT, rnd, 0, ApplyTo.FIRST, 2, Activation.RELU),
                make(ReftType.DIREFT, rnd, 1, ApplyTo.FIRST, 2, Activation.RELU),
                make(ReftType.DIREFT, rnd, 0, ApplyTo.LAST, 2, Activation.RELU),
                make(ReftType.DIREFT, rnd, 1, ApplyTo.LAST, 2, Activation.RELU))));
        b.add(load("l3", false, List.of(make(ReftType.NODIREFT, rnd, 1, ApplyTo.ALL, 6, Activation.SILU))));
        b.add(load("f1+l2", true, List.of(
                make(ReftType.NOREFT, rnd, 0, ApplyTo.ALL, 3, Activation.TANH),
                make(ReftType.NOREFT, rnd, 2, ApplyTo.ALL, 3, Activation.TANH))));
        b.add(load("f4", false, List.of(make(ReftType.CONSREFT, rnd, 2, ApplyTo.ALL, 5, Activation.LINEAR))));
        b.add(load("l1", false, List.of(make(ReftType.LOBIREFT, rnd, 0, ApplyTo.ALL, 1, Activation.LINEAR))));
        return b;
    }

    private static List<InterventionPlan.Row> mixedRows(List<LoadedBundle> b) {
        return List.of(
                new InterventionPlan.Row(b.get(0), 11),
                new InterventionPlan.Row(b.get(1), 7),
                new InterventionPlan.Row((LoadedBundle) null, 12),
                new InterventionPlan.Row(b.get(2), 12),
                new InterventionPlan.Row(b.get(3), 3),
                new InterventionPlan.Row(b.get(4), 9),
                new InterventionPlan.Row(b.get(5), 5),
                new InterventionPlan.Row(b.get(0), 4),
                new InterventionPlan.Row(b.get(3), 12),
                new InterventionPlan.Row(b.get(1), 2));
    }

    @Test
    void appliesAllSixTypesWithMixedRanksAndActivationsInOneBatch() {
        List<LoadedBundle> bundles = allSixTypes();
        try {
            List<InterventionPlan.Row> rows = mixedRows(bundles);
            int tokens = 12;
            float[] hidden = gaussian(new Random(8), rows.size() * tokens * SD);
            float[] got = runHook(new InterventionPlan(rows), hidden, rows.size(), tokens, SD, 3);
            float[][][] expected = split(hidden, rows.size(), tokens, SD);
            referenceApply(expected, rows, 3);
            assertClose(got, expected, 1e-5f);
            assertThat(got).isNotEqualTo(hidden);
        } finally {
            bundles.forEach(LoadedBundle::close);
        }
    }

    @Test
    void reportsTheRelativeEditNormOfEveryIntervenedPosition() {
        List<LoadedBundle> bundles = allSixTypes();
        try {
            List<InterventionPlan.Row> rows = mixedRows(bundles);
            int tokens = 12;
            float[] hidden = gaussian(new Random(9), rows.size() * tokens * SD);
            List<String> seen = new ArrayList<>();
            List<Double> norms = new ArrayList<>();
            InterventionPlan plan = new InterventionPlan(rows, (type, layer, rel) -> {
                seen.add(type + "@" + layer);
                norms.add(rel);
            });
            runHook(plan, hidden, rows.size(), tokens, SD, 3);

            // the same edits, computed per row and per position, in the order the plan makes them
            List<String> expectedSeen = new ArrayList<>();
            List<Double> expectedNorms = new ArrayList<>();
            float[][][] h = split(hidden, rows.size(), tokens, SD);
            for (int layer = 0; layer < 3; layer++) {
                Map<Long, Integer> round = new HashMap<>();
                List<List<Object[]>> rounds = new ArrayList<>();
                for (int i = 0; i < rows.size(); i++) {
                    LoadedBundle b = rows.get(i).bundles().isEmpty() ? null : rows.get(i).bundles().get(0).bundle();
                    if (b == null) {
                        continue;
                    }
                    for (Intervention iv : b.bundle().interventions()) {
                        if (iv.layer() != layer) {
                            continue;
                        }
                        for (int pos : b.bundle().positions().positions(iv.applyTo(), rows.get(i).promptLength())) {
                            int k = round.merge(((long) i << 32) | pos, 1, Integer::sum) - 1;
                            while (rounds.size() <= k) {
                                rounds.add(new ArrayList<>());
                            }
                            rounds.get(k).add(new Object[] {i, pos, iv});
                        }
                    }
                }
                for (List<Object[]> entries : rounds) {
                    for (Object[] e : entries) {
                        int i = (Integer) e[0];
                        int pos = (Integer) e[1];
                        Intervention iv = (Intervention) e[2];
                        float[] before = h[i][pos];
                        float[] after = iv.apply(before);
                        double num = 0;
                        double den = 0;
                        for (int k = 0; k < SD; k++) {
                            num += (after[k] - before[k]) * (double) (after[k] - before[k]);
                            den += before[k] * (double) before[k];
                        }
                        expectedSeen.add(iv.type().wireName() + "@" + layer);
                        expectedNorms.add(Math.sqrt(num / den));
                        h[i][pos] = after;
                    }
                }
            }
            assertThat(seen).isEqualTo(expectedSeen);
            assertThat(seen).contains("loreft@0", "direft@1", "nodireft@1", "noreft@2", "consreft@2", "lobireft@0");
            for (int k = 0; k < norms.size(); k++) {
                assertThat(norms.get(k)).isCloseTo(expectedNorms.get(k), within(1e-4 * (1 + expectedNorms.get(k))));
            }
        } finally {
            bundles.forEach(LoadedBundle::close);
        }
    }

    @Test
    void keepsTheModelDtypeAndComputesInFp32() {
        int d = 288;
        int tokens = 6;
        List<InterventionPlan.Row> rows = List.of(new InterventionPlan.Row(reference.get("D"), 6),
                new InterventionPlan.Row(reference.get("A"), 5));
        float[] hidden = gaussian(new Random(5), 2 * tokens * d);
        InterventionPlan plan = new InterventionPlan(rows);
        try (NDManager step = manager.newSubManager()) {
            NDArray h16 = step.create(hidden, new Shape(2, tokens, d)).toType(DataType.FLOAT16, false);
            // The reference starts from the fp16-rounded input, read before the plan edits it in place.
            float[][][] expected = split(h16.toType(DataType.FLOAT32, false).toFloatArray(), 2, tokens, d);
            NDArray out = plan.afterBlock(3, plan.afterBlock(2, h16));
            assertThat(out.getDataType()).isEqualTo(DataType.FLOAT16);
            float[] got = out.toType(DataType.FLOAT32, false).toFloatArray();
            referenceApply(expected, rows, 6);
            for (int i = 0; i < got.length; i++) {
                float e = expected[i / (tokens * d)][(i / d) % tokens][i % d];
                assertThat(got[i]).isCloseTo(e, within(2e-3f + 2e-3f * Math.abs(e)));
            }
        }
    }

    @Test
    void leavesABatchWithNothingToEditAlone() {
        InterventionPlan plan = new InterventionPlan(List.of(new InterventionPlan.Row((LoadedBundle) null, 5),
                new InterventionPlan.Row(reference.get("B"), 1)));
        assertThat(plan.isEmpty()).isTrue();
        try (NDManager step = manager.newSubManager()) {
            NDArray h = step.zeros(new Shape(2, 5, 288));
            for (int layer = 0; layer < 6; layer++) {
                assertThat(plan.touches(layer)).isFalse();
                assertThat(plan.afterBlock(layer, h)).isSameAs(h);
            }
        }
    }

    @Test
    void rejectsHiddenStatesThatDoNotFitThePlan() {
        InterventionPlan plan = new InterventionPlan(List.of(new InterventionPlan.Row(reference.get("A"), 8)));
        try (NDManager step = manager.newSubManager()) {
            assertThatThrownBy(() -> plan.afterBlock(3, step.zeros(new Shape(1, 7, 288))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("8 tokens");
            assertThatThrownBy(() -> plan.afterBlock(3, step.zeros(new Shape(2, 8, 288))))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void editsInPlaceAndFreesItsTemporariesAfterEachBlock() {
        InterventionPlan plan = new InterventionPlan(List.of(new InterventionPlan.Row(reference.get("B"), 9),
                new InterventionPlan.Row(reference.get("D"), 9)), (type, layer, norm) -> { });
        try (NDManager step = manager.newSubManager()) {
            NDArray h = step.zeros(new Shape(2, 9, 288));
            int before = ((ai.djl.ndarray.BaseNDManager) step).getManagedArrays().size();
            for (int layer = 0; layer < 6; layer++) {
                if (plan.touches(layer)) {
                    assertThat(plan.afterBlock(layer, h)).isSameAs(h);
                }
            }
            // Edit norms included: they are reported, and freed, at the last intervened layer.
            assertThat(((ai.djl.ndarray.BaseNDManager) step).getManagedArrays()).hasSize(before);
        }
        for (LoadedBundle b : reference.values()) {
            assertThat(Arrays.stream(new int[] {1, 2, 3, 5}).mapToObj(b::layer).filter(p -> p != null)
                    .allMatch(p -> !p.packed().isReleased())).isTrue();
        }
    }
}

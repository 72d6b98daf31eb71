package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.intervention.TorchSaveWriter.Stored;
import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * DiReFT, ConsReFT, LobiReFT, NoReFT and NodiReFT state dicts as torch's default state_dict saves them, built here
 * with {@link TorchSaveWriter}. The parametrization X is made from a known orthonormal M by an independent
 * Householder QR (LAPACK's geqrf convention, as torch's right_inverse uses), so S must come back as B M.
 */
class ParametrizedTypesImportTest {

    private static final int D = 16;
    private static final int R = 3;
    private static final ModelShape SHAPE = new ModelShape(D, 4);

    /** X, B and the S = B M they must give. */
    record Parametrization(FloatTensor original, FloatTensor base, double[][] expectedS) {
    }

    /**
     * Householder QR of M (d x r, orthonormal columns): reflector j has a unit j-th entry and v[k] stored in
     * X[k][j] below the diagonal; X[j][j] = sign(R_jj) = +-1; above the diagonal random junk torch ignores.
     */
    static Parametrization parametrize(Random rnd, int d, int r) {
        double[][] m = PyreftDirs.orthonormalColumns(rnd, d, r);
        double[][] a = new double[d][r];
        for (int k = 0; k < d; k++) {
            a[k] = m[k].clone();
        }
        float[] x = new float[d * r];
        for (int j = 0; j < r; j++) {
            double norm = 0;
            for (int k = j; k < d; k++) {
                norm += a[k][j] * a[k][j];
            }
            norm = Math.sqrt(norm);
            double alpha = a[j][j];
            double beta = alpha >= 0 ? -norm : norm; // dlarfg
            double[] v = new double[d];
            v[j] = 1.0;
            for (int k = j + 1; k < d; k++) {
                v[k] = a[k][j] / (alpha - beta);
            }
            double vv = 0;
            for (int k = j; k < d; k++) {
                vv += v[k] * v[k];
            }
            double tau = 2.0 / vv;
            for (int c = j; c < r; c++) {
                double dot = 0;
                for (int k = j; k < d; k++) {
                    dot += v[k] * a[k][c];
                }
                for (int k = j; k < d; k++) {
                    a[k][c] -= tau * dot * v[k];
                }
            }
            // R is diagonal +-1 because M's columns are orthonormal
            x[j * r + j] = (float) Math.signum(a[j][j]);
            for (int k = j + 1; k < d; k++) {
                x[k * r + j] = (float) v[k];
            }
            for (int k = 0; k < j; k++) {
                x[k * r + j] = (float) rnd.nextGaussian();
            }
        }
        double[][] b = PyreftDirs.orthonormalColumns(rnd, d, d);
        double[][] s = new double[d][r];
        float[] bf = new float[d * d];
        for (int i = 0; i < d; i++) {
            for (int k = 0; k < d; k++) {
                bf[i * d + k] = (float) b[i][k];
            }
        }
        // expected S from the fp32 values actually stored, so only our arithmetic is being tested
        for (int i = 0; i < d; i++) {
            for (int c = 0; c < r; c++) {
                double acc = 0;
                for (int k = 0; k < d; k++) {
                    acc += bf[i * d + k] * m[k][c];
                }
                s[i][c] = acc;
            }
        }
        return new Parametrization(FloatTensor.of(x, d, r), FloatTensor.of(bf, d, d), s);
    }

    private static Map<String, Stored> stateDict(String type, Random rnd, Parametrization p, TorchStorageType dtype) {
        Map<String, Stored> sd = new LinkedHashMap<>();
        sd.put("embed_dim", Stored.scalarLong(D));
        sd.put("interchange_dim", Stored.scalarLong(D));
        if (p != null) {
            sd.put("rotate_layer.parametrizations.weight.original", Stored.of(p.original()));
            sd.put("rotate_layer.parametrizations.weight.0.base", Stored.of(p.base()));
        }
        switch (type) {
            case "DireftIntervention" -> {
                sd.put("learned_source.weight", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R * D, 0.3), R, D));
                sd.put("learned_source.bias", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R, 0.3), R));
            }
            case "ConsreftIntervention", "LobireftIntervention" ->
                    sd.put("learned_source", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R, 1.0), R));
            case "NoreftIntervention", "NodireftIntervention" -> {
                sd.put("proj_layer.weight", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R * D, 0.3), R, D));
                sd.put("proj_layer.bias", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R, 0.3), R));
                sd.put("learned_source.weight", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R * D, 0.3), R, D));
                sd.put("learned_source.bias", Stored.contiguous(dtype, PyreftDirs.gaussian(rnd, R, 0.3), R));
            }
            default -> throw new IllegalArgumentException(type);
        }
        return sd;
    }

    private static float widen(TorchStorageType dtype, double v) {
        return switch (dtype) {
            case HALF -> TorchDtypes.halfToFloat(TorchDtypes.floatToHalf((float) v));
            case BFLOAT16 -> TorchDtypes.bfloat16ToFloat(TorchDtypes.floatToBfloat16((float) v));
            default -> (float) v;
        };
    }

    @ParameterizedTest
    @CsvSource({
        "DireftIntervention, direft, false, FLOAT",
        "DireftIntervention, direft, true, HALF",
        "ConsreftIntervention, consreft, false, BFLOAT16",
        "ConsreftIntervention, consreft, true, FLOAT",
        "LobireftIntervention, lobireft, false, HALF",
        "LobireftIntervention, lobireft, true, FLOAT",
        "NoreftIntervention, noreft, false, FLOAT",
        "NoreftIntervention, noreft, true, BFLOAT16",
        "NodireftIntervention, nodireft, false, HALF",
        "NodireftIntervention, nodireft, true, FLOAT"})
    void rebuildsEachTypeFromItsDefaultStateDict(String pyreftClass, String type, boolean dotted,
            TorchStorageType dtype) {
        Random rnd = new Random(pyreftClass.hashCode() * 31L + (dotted ? 1 : 0));
        boolean rotates = !pyreftClass.startsWith("No");
        List<Integer> layers = List.of(1, 3);
        List<Parametrization> params = new ArrayList<>();
        List<Map<String, Stored>> dicts = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            Parametrization p = rotates ? parametrize(rnd, D, R) : null;
            params.add(p);
            dicts.add(stateDict(pyreftClass, rnd, p, dtype));
        }
        byte[] zip = PyreftDirs.zip(PyreftDirs.config(pyreftClass, layers, R, D, dotted), dicts);
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults()).importZip(zip, SHAPE, "f2+l2", false);

        assertThat(imported.summary().type()).isEqualTo(type);
        assertThat(imported.summary().layers()).containsExactly(1, 3);
        ReftBundle bundle = PyreftImportTest.readNative(imported.nativeZip());
        for (int i = 0; i < layers.size(); i++) {
            Intervention iv = bundle.interventions().get(i);
            assertThat(iv.applyTo()).isEqualTo(i == 0 ? ApplyTo.FIRST : ApplyTo.LAST);
            Map<String, FloatTensor> t = iv.tensors();
            Map<String, Stored> sd = dicts.get(i);
            if (rotates) {
                FloatTensor s = t.get("rotate");
                double[][] expected = params.get(i).expectedS();
                for (int k = 0; k < D; k++) {
                    for (int c = 0; c < R; c++) {
                        assertThat((double) s.data()[k * R + c]).isCloseTo(expected[k][c], within(2e-6));
                    }
                }
                assertThat(BundleValidator.orthonormalityError(s)).isLessThan(1e-5);
            } else {
                assertExact(t.get("proj"), sd.get("proj_layer.weight"), dtype);
                if (type.equals("noreft")) {
                    assertExact(t.get("proj_bias"), sd.get("proj_layer.bias"), dtype);
                } else {
                    // NodiReFT never uses proj_layer's bias
                    assertThat(t).doesNotContainKey("proj_bias");
                }
            }
            if (t.containsKey("weight")) {
                assertExact(t.get("weight"), sd.get("learned_source.weight"), dtype);
                assertExact(t.get("bias"), sd.get("learned_source.bias"), dtype);
            } else {
                assertExact(t.get("bias"), sd.get("learned_source"), dtype);
            }
        }
    }

    private static void assertExact(FloatTensor got, Stored stored, TorchStorageType dtype) {
        assertThat(got.shape()).isEqualTo(stored.size());
        for (int k = 0; k < got.data().length; k++) {
            assertThat(got.data()[k]).isEqualTo(widen(dtype, stored.storage()[k]));
        }
    }

    @Test
    void honoursStorageOffsetsAndStrides() {
        Random rnd = new Random(5);
        Parametrization p = parametrize(rnd, D, R);
        float[] w = PyreftDirs.gaussian(rnd, R * D, 0.3);
        // W^T stored contiguously, W seen through strides (1, R); b a slice at offset 2 of a longer storage
        float[] wt = new float[D * R];
        for (int j = 0; j < R; j++) {
            for (int k = 0; k < D; k++) {
                wt[k * R + j] = w[j * D + k];
            }
        }
        float[] bStorage = {9, 9, 0.5f, -0.25f, 0.125f, 9};
        Map<String, Stored> sd = new LinkedHashMap<>();
        sd.put("rotate_layer.parametrizations.weight.original", Stored.of(p.original()));
        sd.put("rotate_layer.parametrizations.weight.0.base", Stored.of(p.base()));
        sd.put("learned_source.weight", new Stored(TorchStorageType.FLOAT, wt, 0, new int[] {R, D}, new long[] {1, R}));
        sd.put("learned_source.bias", new Stored(TorchStorageType.FLOAT, bStorage, 2, new int[] {R}, new long[] {1}));
        byte[] zip = PyreftDirs.zip(PyreftDirs.config("DireftIntervention", List.of(0), R, D, false), List.of(sd));

        ReftBundle bundle = PyreftImportTest.readNative(
                new BundleImporter(BundleLimits.defaults()).importZip(zip, SHAPE, "l4", null).nativeZip());
        Map<String, FloatTensor> t = bundle.interventions().get(0).tensors();
        assertThat(t.get("weight")).isEqualTo(FloatTensor.of(w, R, D));
        assertThat(t.get("bias").data()).containsExactly(0.5f, -0.25f, 0.125f);
        assertThat(bundle.interventions().get(0).applyTo()).isEqualTo(ApplyTo.ALL);
    }

    @Test
    void noreftSubtractsItsProjectionWithBias() {
        Random rnd = new Random(11);
        FloatTensor p = FloatTensor.of(PyreftDirs.gaussian(rnd, R * D, 0.3), R, D);
        FloatTensor pb = FloatTensor.of(PyreftDirs.gaussian(rnd, R, 0.3), R);
        FloatTensor w = FloatTensor.of(PyreftDirs.gaussian(rnd, R * D, 0.3), R, D);
        FloatTensor b = FloatTensor.of(PyreftDirs.gaussian(rnd, R, 0.3), R);
        float[] h = PyreftDirs.gaussian(rnd, D, 1.0);
        NoreftIntervention iv = new NoreftIntervention(0, ApplyTo.ALL, Activation.TANH, p, w, b, pb);
        // pyreft: base + (act(learned_source(base)) - proj_layer(base)) @ proj_layer.weight
        double[] z = new double[R];
        for (int j = 0; j < R; j++) {
            double u = b.data()[j];
            double ph = pb.data()[j];
            for (int k = 0; k < D; k++) {
                u += w.data()[j * D + k] * h[k];
                ph += p.data()[j * D + k] * h[k];
            }
            z[j] = Math.tanh(u) - ph;
        }
        float[] got = iv.apply(h);
        for (int k = 0; k < D; k++) {
            double expected = h[k];
            for (int j = 0; j < R; j++) {
                expected += z[j] * p.data()[j * D + k];
            }
            assertThat((double) got[k]).isCloseTo(expected, within(1e-6));
        }
    }
}

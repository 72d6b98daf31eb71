package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.model.ModelShape;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Real {@code torch.save} output (made by src/test/scripts/make_torch_saved_bundles.py): torch's own pickles, the
 * orthogonal parametrization of DiReFT / ConsReFT / LobiReFT, fp16 and bf16 storages, a transposed base, a
 * transposed view and a storage offset, and the older dotted key names.
 */
class TorchSavedImportTest {

    private static final ModelShape SHAPE = new ModelShape(32, 4);

    @ParameterizedTest
    @CsvSource({
        "direft_f32, direft, f1+l1, false, 2",
        "consreft_f16, consreft, l2, false, 1",
        "lobireft_bf16_dotted, lobireft, f2, true, 2",
        "noreft_strided, noreft, f2+l2, true, 1"})
    void importsWhatTorchSaved(String name, String type, String positions, boolean share, int count) {
        byte[] zip = Fixtures.zip(Fixtures.resourceDir("torch-saved/" + name), name + "/");
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults()).importZip(zip, SHAPE, positions, share);
        assertThat(imported.summary().type()).isEqualTo(type);
        assertThat(imported.summary().interventions()).isEqualTo(count);

        Map<String, FloatTensor> expected =
                Safetensors.read(Fixtures.resource("torch-saved/expected.safetensors"), "expected", Long.MAX_VALUE);
        ReftBundle bundle = PyreftImportTest.readNative(imported.nativeZip());
        for (int i = 0; i < count; i++) {
            Map<String, FloatTensor> mine = bundle.interventions().get(i).tensors();
            String prefix = name + "." + i + ".";
            int roles = 0;
            for (Map.Entry<String, FloatTensor> e : expected.entrySet()) {
                if (!e.getKey().startsWith(prefix)) {
                    continue;
                }
                roles++;
                String role = e.getKey().substring(prefix.length());
                FloatTensor got = mine.get(role);
                assertThat(got).as(e.getKey()).isNotNull();
                assertThat(got.shape()).as(e.getKey()).isEqualTo(e.getValue().shape());
                if (role.equals("rotate")) {
                    // torch computed S in float64 from the same saved X and B; we do too, then round once
                    for (int k = 0; k < got.data().length; k++) {
                        assertThat(got.data()[k]).as(e.getKey()).isCloseTo(e.getValue().data()[k], within(1e-6f));
                    }
                    assertThat(BundleValidator.orthonormalityError(got)).isLessThan(1e-3);
                } else {
                    assertThat(got).as(e.getKey()).isEqualTo(e.getValue());
                }
            }
            assertThat(roles).isEqualTo(mine.size());
        }
    }
}

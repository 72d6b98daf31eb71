package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.model.ModelShape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;

/**
 * The pyreft export: the reference bundles come out as the files pyreft itself wrote, every type survives export and
 * re-import unchanged, and bundles pyreft cannot express are refused.
 */
class PyreftExportTest {

    private static final ModelShape SHAPE = new ModelShape(32, 4);
    private static final int R = 3;

    private final BundleImporter importer = new BundleImporter(BundleLimits.defaults());

    @ParameterizedTest
    @ValueSource(strings = {"A", "B", "D"})
    void writesTheFilesPyreftWroteForTheReferenceBundles(String name) {
        byte[] nativeZip = PyreftImportTest.importReference(importer, name, "").nativeZip();
        Map<String, byte[]> exported = unzip(PyreftExporter.export(nativeZip, BundleLimits.defaults()));
        Map<String, byte[]> reference = Fixtures.resourceDir("reference/bundles/" + name + "/pyreft");

        assertThat(exported.keySet()).containsExactlyInAnyOrderElementsOf(reference.keySet());
        String refConfig = new String(reference.get("config.json"), StandardCharsets.UTF_8)
                .replace(",\n  \"transformers_version\": \"5.18.0\"", "");
        assertThat(new String(exported.get("config.json"), StandardCharsets.UTF_8)).isEqualTo(refConfig);
        for (String file : reference.keySet()) {
            if (file.equals("config.json")) {
                continue;
            }
            Map<String, byte[]> mine = unzip(exported.get(file));
            Map<String, byte[]> theirs = unzip(reference.get(file));
            assertThat(mine.keySet()).as(file).containsExactlyElementsOf(theirs.keySet());
            for (String record : theirs.keySet()) {
                if (!record.endsWith("/.data/serialization_id")) {
                    assertThat(mine.get(record)).as(file + " " + record).isEqualTo(theirs.get(record));
                }
            }
            assertThat(recordDataOffsets(exported.get(file))).as(file).allMatch(offset -> offset % 64 == 0);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"A", "B", "D"})
    void reimportsTheReferenceBundlesToTheSameNativeBundle(String name) {
        JsonNode meta = Fixtures.json("reference/bundles/" + name + "/meta.json");
        byte[] nativeZip = PyreftImportTest.importReference(importer, name, "").nativeZip();

        byte[] again = importer.importZip(PyreftExporter.export(nativeZip, BundleLimits.defaults()), PyreftImportTest.STORIES15M,
                meta.get("positions").stringValue(), meta.get("share_weights").booleanValue()).nativeZip();

        assertThat(again).isEqualTo(nativeZip);
    }

    @ParameterizedTest
    @CsvSource({
        "LOREFT, f2+l2, false", "DIREFT, f2+l2, false", "NODIREFT, f2+l2, false", "NOREFT, f2+l2, false",
        "CONSREFT, f2+l2, false", "LOBIREFT, f2+l2, false", "LOREFT, f2+l2, true", "DIREFT, l3, false",
        "NOREFT, f1, true"})
    void everyTypeSurvivesExportAndReimport(ReftType type, String positions, boolean share) {
        PositionSpec spec = PositionSpec.parse(positions);
        boolean untied = !share && spec.hasBothGroups();
        Random rnd = new Random(type.ordinal() * 31L + positions.length());
        List<Intervention> ivs = new ArrayList<>();
        for (ApplyTo applyTo : untied ? List.of(ApplyTo.FIRST, ApplyTo.LAST) : List.of(ApplyTo.ALL)) {
            for (int layer : List.of(1, 3, 3)) {
                ivs.add(random(type, layer, applyTo, rnd));
            }
        }
        byte[] nativeZip = NativeBundleFormat.write(new ReftBundle(32, 4, spec, share, ivs));

        byte[] again = importer.importZip(PyreftExporter.export(nativeZip, BundleLimits.defaults()), SHAPE, positions, share).nativeZip();

        assertThat(again).isEqualTo(nativeZip);
    }

    @Test
    void writesUntiedInterventionsFirstPositionsFirst() {
        Random rnd = new Random(3);
        List<Intervention> interleaved = List.of(random(ReftType.LOREFT, 1, ApplyTo.FIRST, rnd),
                random(ReftType.LOREFT, 1, ApplyTo.LAST, rnd), random(ReftType.LOREFT, 2, ApplyTo.FIRST, rnd),
                random(ReftType.LOREFT, 2, ApplyTo.LAST, rnd));
        byte[] nativeZip = NativeBundleFormat.write(
                new ReftBundle(32, 4, PositionSpec.parse("f3+l3"), false, interleaved));

        byte[] pyreft = PyreftExporter.export(nativeZip, BundleLimits.defaults());
        JsonNode config = Fixtures.JSON.readTree(unzip(pyreft).get("config.json"));
        ReftBundle back = PyreftImportTest.readNative(importer.importZip(pyreft, SHAPE, "f3+l3", false).nativeZip());

        assertThat(config.get("sorted_keys").valueStream().map(JsonNode::stringValue).toList()).containsExactly(
                "layer_1_comp_block_output_unit_pos_nunit_1#0", "layer_2_comp_block_output_unit_pos_nunit_1#0",
                "layer_1_comp_block_output_unit_pos_nunit_1#1", "layer_2_comp_block_output_unit_pos_nunit_1#1");
        assertThat(back.interventions()).containsExactly(interleaved.get(0), interleaved.get(2), interleaved.get(1),
                interleaved.get(3));
    }

    @Test
    void savesRotationsAsTheParametrizationTorchStoresForS() {
        Random rnd = new Random(9);
        Intervention iv = random(ReftType.DIREFT, 0, ApplyTo.ALL, rnd);
        byte[] nativeZip = NativeBundleFormat.write(new ReftBundle(32, 4, PositionSpec.parse("l2"), false,
                List.of(iv)));
        Map<String, TorchStateDict.Entry> sd = stateDict(PyreftExporter.export(nativeZip, BundleLimits.defaults()),
                "intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin");
        FloatTensor x = sd.get("rotate_layer.parametrizations.weight.original").asFloatTensor();
        FloatTensor b = sd.get("rotate_layer.parametrizations.weight.0.base").asFloatTensor();
        FloatTensor s = iv.tensors().get("rotate");

        assertThat(sd.keySet()).containsExactly("embed_dim", "interchange_dim",
                "rotate_layer.parametrizations.weight.original", "rotate_layer.parametrizations.weight.0.base",
                "learned_source.weight", "learned_source.bias");
        assertThat(sd.get("embed_dim").longs()).containsExactly(32L);
        assertThat(sd.get("embed_dim").shape()).isEmpty();
        for (int k = 0; k < 32; k++) {
            for (int j = 0; j < R; j++) {
                assertThat(x.data()[k * R + j]).isEqualTo(k == j ? -1f : 0f);
                assertThat(b.data()[k * 32 + j]).isEqualTo(s.data()[k * R + j]);
            }
        }
        // B is orthogonal: S completed, not just S
        for (int i = 0; i < 32; i++) {
            for (int j = 0; j < 32; j++) {
                double dot = 0;
                for (int k = 0; k < 32; k++) {
                    dot += (double) b.data()[k * 32 + i] * b.data()[k * 32 + j];
                }
                assertThat(dot).isCloseTo(i == j ? 1.0 : 0.0, within(1e-5));
            }
        }
        assertThat(OrthogonalParametrization.rebuild(x, b, "test")).isEqualTo(s);
    }

    /** The key order and shapes of the state dicts real torch saved for modules mirroring pyreft's classes. */
    @ParameterizedTest
    @CsvSource({
        "direft_f32, f1+l1, false, intkey_layer_1_comp_block_output_unit_pos_nunit_1#0.bin, 2",
        "consreft_f16, l2, false, intkey_layer_0_comp_block_output_unit_pos_nunit_1#0.bin, 1",
        "lobireft_bf16_dotted, f2, true, intkey_layer.3.comp.block_output.unit.pos.nunit.1#0.bin, 2",
        "noreft_strided, f2+l2, true, intkey_layer_2_comp_block_output_unit_pos_nunit_1#0.bin, 1"})
    void savesTheStateDictKeysTorchSavedForEachType(String name, String positions, boolean share, String bin,
            int count) {
        Map<String, byte[]> dir = Fixtures.resourceDir("torch-saved/" + name);
        byte[] nativeZip = importer.importZip(Fixtures.zip(dir), SHAPE, positions, share).nativeZip();
        Map<String, byte[]> exported = unzip(PyreftExporter.export(nativeZip, BundleLimits.defaults()));
        assertThat(exported).hasSize(count + 1);
        String exportedBin = bin.replace('.', '_').replace("_bin", ".bin");

        Map<String, TorchStateDict.Entry> mine = stateDict(exported, exportedBin);
        Map<String, TorchStateDict.Entry> theirs = stateDict(dir, bin);
        assertThat(mine.keySet()).containsExactlyElementsOf(theirs.keySet());
        theirs.forEach((k, e) -> assertThat(mine.get(k).shape()).as(k).isEqualTo(e.shape()));
    }

    @Test
    void exportsTheSameBytesEveryTime() {
        byte[] nativeZip = PyreftImportTest.importReference(importer, "D", "").nativeZip();
        assertThat(PyreftExporter.export(nativeZip, BundleLimits.defaults())).isEqualTo(PyreftExporter.export(nativeZip, BundleLimits.defaults()));
    }

    @Test
    void writesTheSameBytesInEveryTimeZone() {
        Random rnd = new Random(6);
        ReftBundle bundle = new ReftBundle(32, 4, PositionSpec.parse("l1"), false,
                List.of(random(ReftType.DIREFT, 1, ApplyTo.ALL, rnd)));
        java.util.TimeZone saved = java.util.TimeZone.getDefault();
        try {
            java.util.TimeZone.setDefault(java.util.TimeZone.getTimeZone("UTC"));
            byte[] nativeUtc = NativeBundleFormat.write(bundle);
            byte[] pyreftUtc = PyreftExporter.export(nativeUtc, BundleLimits.defaults());
            java.util.TimeZone.setDefault(java.util.TimeZone.getTimeZone("Asia/Tokyo"));
            assertThat(NativeBundleFormat.write(bundle)).isEqualTo(nativeUtc);
            assertThat(PyreftExporter.export(nativeUtc, BundleLimits.defaults())).isEqualTo(pyreftUtc);
        } finally {
            java.util.TimeZone.setDefault(saved);
        }
    }

    @Test
    void refusesANonLinearActivation() {
        Random rnd = new Random(4);
        DireftIntervention iv = (DireftIntervention) random(ReftType.DIREFT, 1, ApplyTo.ALL, rnd);
        Intervention tanh = new DireftIntervention(1, ApplyTo.ALL, Activation.TANH, iv.tensors().get("rotate"),
                iv.tensors().get("weight"), iv.tensors().get("bias"));
        assertNotExportable(new ReftBundle(32, 4, PositionSpec.parse("l2"), false, List.of(tanh)), "tanh");
    }

    @Test
    void refusesLayoutsPyreftCannotSay() {
        Random rnd = new Random(5);
        PositionSpec both = PositionSpec.parse("f2+l2");
        assertNotExportable(new ReftBundle(32, 4, both, false, List.of(random(ReftType.LOREFT, 1, ApplyTo.ALL, rnd),
                random(ReftType.LOREFT, 1, ApplyTo.FIRST, rnd))), "all positions of an untied bundle");
        assertNotExportable(new ReftBundle(32, 4, both, false, List.of(random(ReftType.LOREFT, 1, ApplyTo.FIRST, rnd),
                random(ReftType.LOREFT, 2, ApplyTo.FIRST, rnd), random(ReftType.LOREFT, 1, ApplyTo.LAST, rnd))),
                "2 first-position and 1 last-position");
        assertNotExportable(new ReftBundle(32, 4, both, true, List.of(random(ReftType.LOREFT, 1, ApplyTo.LAST, rnd))),
                "last positions only");
    }

    private static void assertNotExportable(ReftBundle bundle, String message) {
        byte[] nativeZip = NativeBundleFormat.write(bundle);
        assertThatThrownBy(() -> PyreftExporter.export(nativeZip, BundleLimits.defaults())).isInstanceOfSatisfying(
                NotExportableException.class, e -> {
                    assertThat(e.param()).isEqualTo("format");
                    assertThat(e.code()).isEqualTo("not_exportable");
                    assertThat(e.status().value()).isEqualTo(400);
                }).hasMessageContaining(message);
    }

    /** A valid intervention of {@code type} at rank 3 on hidden size 32, with random tensors. */
    static Intervention random(ReftType type, int layer, ApplyTo applyTo, Random rnd) {
        return UploadFixtures.randomIntervention(type, layer, applyTo, 32, R, rnd);
    }

    private static Map<String, byte[]> unzip(byte[] zip) {
        BundleLimits limits = BundleLimits.defaults();
        return SafeZip.read(zip, limits, ImportBudget.of(limits), "test");
    }

    private static Map<String, TorchStateDict.Entry> stateDict(byte[] pyreftZip, String bin) {
        return stateDict(unzip(pyreftZip), bin);
    }

    private static Map<String, TorchStateDict.Entry> stateDict(Map<String, byte[]> dir, String bin) {
        BundleLimits limits = BundleLimits.defaults();
        return TorchStateDict.read(dir.get(bin), limits, ImportBudget.of(limits), bin);
    }

    /** Where each record's data starts, from the zip's local file headers. */
    private static List<Long> recordDataOffsets(byte[] zip) {
        ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        List<Long> out = new ArrayList<>();
        int at = 0;
        while (at + 30 <= zip.length && b.getInt(at) == 0x04034b50) {
            int size = b.getInt(at + 18);
            int nameLength = b.getShort(at + 26) & 0xFFFF;
            int extraLength = b.getShort(at + 28) & 0xFFFF;
            long data = at + 30L + nameLength + extraLength;
            out.add(data);
            at = (int) data + size;
        }
        assertThat(out).isNotEmpty();
        return out;
    }
}

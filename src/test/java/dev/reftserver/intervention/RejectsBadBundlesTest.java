package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.intervention.TorchSaveWriter.Pickle;
import dev.reftserver.intervention.TorchSaveWriter.Stored;
import dev.reftserver.model.ModelShape;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.node.ObjectNode;

/** Every way an upload must be refused, each with its reason and a message saying what and where. */
class RejectsBadBundlesTest {

    private static final int D = 16;
    private static final int R = 2;
    private static final ModelShape SHAPE = new ModelShape(D, 4);
    private static final String LOREFT_BIN = "intkey_layer_1_comp_block_output_unit_pos_nunit_1#0.bin";

    private final BundleImporter importer = new BundleImporter(BundleLimits.defaults());

    @TempDir
    Path tmp;

    private static AbstractThrowableAssert<?, ? extends Throwable> assertRejected(Runnable r, String reason) {
        return assertThatThrownBy(r::run)
                .isInstanceOf(BundleRejectedException.class)
                .satisfies(e -> assertThat(((BundleRejectedException) e).reason()).isEqualTo(reason));
    }

    private static void assertTooLarge(Runnable r) {
        assertRejected(r, "too_large")
                .satisfies(e -> assertThat(((BundleRejectedException) e).tooLarge()).isTrue());
    }

    // ---------- restricted unpickler ----------

    /** A pyreft LoReFT directory whose one .bin holds {@code dataPkl} as its pickle. */
    private static byte[] pyreftWithPickle(byte[] dataPkl) {
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bin)) {
            zip.putNextEntry(new ZipEntry("archive/data.pkl"));
            zip.write(dataPkl);
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("archive/byteorder"));
            zip.write("little".getBytes(StandardCharsets.US_ASCII));
            zip.closeEntry();
        } catch (IOException ex) {
            throw new IllegalStateException(ex);
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", Fixtures.JSON.writeValueAsString(
                PyreftDirs.config("LoreftIntervention", List.of(1), R, D, false)).getBytes(StandardCharsets.UTF_8));
        files.put(LOREFT_BIN, bin.toByteArray());
        return Fixtures.zip(files);
    }

    @ParameterizedTest
    @CsvSource({"os, system", "builtins, eval", "subprocess, Popen", "posix, system", "builtins, __import__"})
    void rejectsPickleWithForeignGlobal(String module, String name) {
        Path marker = tmp.resolve("pwned");
        Pickle p = new Pickle().op(0x80).op(2);
        int at = p.size();
        p.global(module, name).str("touch " + marker).op(0x85).op('R').op('.');
        assertRejected(() -> importer.importZip(pyreftWithPickle(p.bytes()), SHAPE, "l1", null), "pickle_global")
                .hasMessageContaining("'" + module + "." + name + "'")
                .hasMessageContaining("GLOBAL at byte " + at)
                .hasMessageContaining(LOREFT_BIN);
        assertThat(Files.exists(marker)).isFalse();
    }

    @ParameterizedTest
    @CsvSource({"os, system", "builtins, eval", "subprocess, Popen"})
    void rejectsPickleWithForeignStackGlobal(String module, String name) {
        Path marker = tmp.resolve("pwned");
        Pickle p = new Pickle().op(0x80).op(4);
        p.op(0x95).raw(new byte[8]); // FRAME
        p.shortStr(module).op(0x94).shortStr(name).op(0x94);
        int at = p.size();
        p.op(0x93).op(0x94).shortStr("touch " + marker).op(0x85).op('R').op('.');
        assertRejected(() -> importer.importZip(pyreftWithPickle(p.bytes()), SHAPE, "l1", null), "pickle_global")
                .hasMessageContaining("'" + module + "." + name + "'")
                .hasMessageContaining("STACK_GLOBAL at byte " + at);
        assertThat(Files.exists(marker)).isFalse();
    }

    @Test
    void refusesOnTheGlobalOpcodeBeforeReadingAnythingAfterIt() {
        // what follows the GLOBAL is garbage: had the reader gone on, it would fail on an opcode, not the global
        byte[] pkl = new Pickle().op(0x80).op(2).global("os", "system").raw(new byte[] {(byte) 0xFF, (byte) 0xFE})
                .bytes();
        assertRejected(() -> RestrictedUnpickler.load(pkl, "data.pkl", ImportBudget.of(BundleLimits.defaults())), "pickle_global")
                .hasMessageContaining("'os.system' (GLOBAL at byte 2)");
        byte[] garbage = new Pickle().op(0x80).op(2).raw(new byte[] {(byte) 0xFF}).bytes();
        assertRejected(() -> RestrictedUnpickler.load(garbage, "data.pkl", ImportBudget.of(BundleLimits.defaults())), "pickle_opcode")
                .hasMessageContaining("0xff at byte 2");
    }

    @ParameterizedTest
    @ValueSource(ints = {'i', 'o', 0x81, 0x92, 0x82, 'P', 'S', 'I', 'F'})
    void rejectsOpcodesThatCallOrAreNotNeeded(int opcode) {
        byte[] pkl = new Pickle().op(0x80).op(2).op(opcode).raw("os\nsystem\n".getBytes(StandardCharsets.US_ASCII))
                .bytes();
        assertRejected(() -> RestrictedUnpickler.load(pkl, "data.pkl", ImportBudget.of(BundleLimits.defaults())), "pickle_opcode")
                .hasMessageContaining("at byte 2");
    }

    @Test
    void rejectsCallingAnAllowedStorageClass() {
        byte[] pkl = new Pickle().op(0x80).op(2).global("torch", "FloatStorage").op(')').op('R').op('.').bytes();
        assertRejected(() -> RestrictedUnpickler.load(pkl, "data.pkl", ImportBudget.of(BundleLimits.defaults())), "pickle_opcode")
                .hasMessageContaining("REDUCE at byte");
    }

    @Test
    void rejectsATensorReachingPastItsStorage() {
        Map<String, Stored> sd = new LinkedHashMap<>();
        sd.put("w", new Stored(TorchStorageType.FLOAT, new float[4], 2, new int[] {2, 2}, new long[] {2, 1}));
        assertRejected(() -> RestrictedUnpickler.load(TorchSaveWriter.pickle(sd), "data.pkl", ImportBudget.of(BundleLimits.defaults())), "pickle")
                .hasMessageContaining("past its storage");
    }

    // ---------- zip safety ----------

    @ParameterizedTest
    @ValueSource(strings = {"../evil.txt", "/etc/cron.d/evil", "a/../../evil", "..\\evil.txt", "C:/evil", "a//b",
            "./config.json", "dir/..", "a\u0000b"})
    void rejectsZipSlip(String name) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", "{}".getBytes(StandardCharsets.UTF_8));
        files.put(name, "x".getBytes(StandardCharsets.UTF_8));
        assertRejected(() -> importer.importZip(Fixtures.zip(files), SHAPE, "l1", null), "zip_path")
                .hasMessageContaining("unsafe entry name");
        assertThat(tmp.getParent().resolve("evil.txt")).doesNotExist();
    }

    /** 1 MiB upload and entries, 4 MiB in all, 64 entries and interventions, 512 KiB of parameters. */
    private static final BundleLimits SMALL = new BundleLimits(1 << 20, 1 << 20, 4 << 20, 64, 200, 64, 1 << 19,
            java.time.Duration.ofSeconds(10));

    @Test
    void rejectsZipBomb() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", new byte[64 << 20]); // 64 MiB of zeros deflate to about 64 KiB
        byte[] zip = Fixtures.zip(files);
        assertThat(zip.length).isLessThan(1 << 20);
        assertTooLarge(() -> new BundleImporter(SMALL).importZip(zip, SHAPE, "l1", null));
    }

    @Test
    void rejectsTooMuchInflatedInAll() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < 6; i++) {
            files.put("f" + i, new byte[900 << 10]);
        }
        assertTooLarge(() -> new BundleImporter(SMALL).importZip(Fixtures.zip(files), SHAPE, "l1", null));
    }

    @Test
    void doesNotTrustDeclaredSizes() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", new byte[8 << 20]);
        byte[] zip = Fixtures.zip(files);
        // claim 10 bytes in the central directory (zip writes sizes in the data descriptor and central directory)
        ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = zip.length - 22; i >= 0; i--) {
            if (b.getInt(i) == 0x02014b50) {
                b.putInt(i + 24, 10);
                break;
            }
        }
        // inflating stops at the 11th byte, whatever the limits
        for (BundleLimits limits : List.of(SMALL, BundleLimits.defaults())) {
            assertRejected(() -> new BundleImporter(limits).importZip(zip, SHAPE, "l1", null), "bad_zip")
                    .hasMessageContaining("inflates to more than the 10 bytes its header says");
        }
    }

    @Test
    void refusesAnEntryDeclaringMoreThanTheInflationRatioBeforeInflating() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", new byte[8 << 20]); // zeros deflate about 1000:1
        assertTooLarge(() -> importer.importZip(Fixtures.zip(files), SHAPE, "l1", null));
        assertRejected(() -> importer.importZip(Fixtures.zip(files), SHAPE, "l1", null), "too_large")
                .hasMessageContaining("more than 200 times");
    }

    @Test
    void rejectsBombNestedInATorchFile() throws IOException {
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bin)) {
            zip.putNextEntry(new ZipEntry("archive/data/0"));
            zip.write(new byte[32 << 20]);
            zip.closeEntry();
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", Fixtures.JSON.writeValueAsString(
                PyreftDirs.config("LoreftIntervention", List.of(1), R, D, false)).getBytes(StandardCharsets.UTF_8));
        files.put(LOREFT_BIN, bin.toByteArray());
        assertTooLarge(() -> new BundleImporter(SMALL).importZip(Fixtures.zip(files), SHAPE, "l1", null));
    }

    @Test
    void rejectsOversizedUploadAndTooManyEntries() {
        assertTooLarge(() -> new BundleImporter(SMALL).importZip(new byte[(1 << 20) + 1], SHAPE, "l1", null));
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < 65; i++) {
            files.put("f" + i, new byte[1]);
        }
        assertTooLarge(() -> new BundleImporter(SMALL).importZip(Fixtures.zip(files), SHAPE, "l1", null));
    }

    @Test
    void rejectsWhatIsNotAZip() {
        assertRejected(() -> importer.importZip("not a zip at all".getBytes(StandardCharsets.UTF_8), SHAPE, "l1",
                null), "bad_zip").hasMessageContaining("not a zip archive");
        assertRejected(() -> importer.importZip(Fixtures.zip(Map.of("notes.txt", new byte[3])), SHAPE, "l1", null),
                "bundle_format").hasMessageContaining("neither reft.json");
    }

    // ---------- content checks, pyreft ----------

    private static Map<String, Stored> loreftState(Random rnd, float[] rotate) {
        Map<String, Stored> sd = new LinkedHashMap<>();
        sd.put("weight", Stored.contiguous(TorchStorageType.FLOAT, PyreftDirs.gaussian(rnd, R * D, 0.3), R, D));
        sd.put("bias", Stored.contiguous(TorchStorageType.FLOAT, PyreftDirs.gaussian(rnd, R, 0.3), R));
        sd.put("rotate_layer", Stored.contiguous(TorchStorageType.FLOAT, rotate, D, R));
        return sd;
    }

    private static float[] orthonormal(Random rnd) {
        return PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, D, R)).data();
    }

    private static byte[] loreftZip(Map<String, Stored> sd, int layer, int rank) {
        return PyreftDirs.zip(PyreftDirs.config("LoreftIntervention", List.of(layer), rank, D, false), List.of(sd));
    }

    @Test
    void acceptsAWellFormedSyntheticLoreft() {
        Random rnd = new Random(1);
        ImportedBundle b = importer.importZip(loreftZip(loreftState(rnd, orthonormal(rnd)), 1, R), SHAPE, "l1", null);
        assertThat(b.summary()).isEqualTo(new BundleSummary("loreft", List.of(1), R, "l1", false, 1));
    }

    @Test
    void rejectsNanWeights() {
        Random rnd = new Random(2);
        Map<String, Stored> sd = loreftState(rnd, orthonormal(rnd));
        sd.get("weight").storage()[5] = Float.NaN;
        assertRejected(() -> importer.importZip(loreftZip(sd, 1, R), SHAPE, "l1", null), "non_finite")
                .hasMessageContaining("'weight'").hasMessageContaining("NaN").hasMessageContaining("index 5")
                .hasMessageContaining(LOREFT_BIN).hasMessageContaining("intervention 0");
    }

    @Test
    void rejectsNonOrthonormalRotation() {
        Random rnd = new Random(3);
        Map<String, Stored> sd = loreftState(rnd, PyreftDirs.gaussian(rnd, D * R, 1.0));
        assertRejected(() -> importer.importZip(loreftZip(sd, 1, R), SHAPE, "l1", null), "not_orthonormal")
                .hasMessageContaining("'rotate'").hasMessageContaining("intervention 0 (loreft, layer 1)");
    }

    @Test
    void rejectsAParametrizationWhoseDiagonalTruncatesToZero() {
        Random rnd = new Random(4);
        ParametrizedTypesImportTest.Parametrization p = ParametrizedTypesImportTest.parametrize(rnd, D, R);
        p.original().data()[0] = 0.5f; // int(0.5) == 0 zeroes a column, as torch would
        Map<String, Stored> sd = new LinkedHashMap<>();
        sd.put("rotate_layer.parametrizations.weight.original", Stored.of(p.original()));
        sd.put("rotate_layer.parametrizations.weight.0.base", Stored.of(p.base()));
        sd.put("learned_source", Stored.contiguous(TorchStorageType.FLOAT, new float[R], R));
        byte[] zip = PyreftDirs.zip(PyreftDirs.config("LobireftIntervention", List.of(0), R, D, false), List.of(sd));
        assertRejected(() -> importer.importZip(zip, SHAPE, "l1", null), "not_orthonormal");
    }

    @Test
    void rejectsWrongHiddenSize() {
        Random rnd = new Random(9);
        var config = PyreftDirs.config("LoreftIntervention", List.of(1), R, D, false);
        config.remove("intervention_dimensions"); // so the tensors themselves must give it away
        byte[] zip = PyreftDirs.zip(config, List.of(loreftState(rnd, orthonormal(rnd))));
        assertRejected(() -> importer.importZip(zip, new ModelShape(20, 4), "l1", null), "shape_mismatch")
                .hasMessageContaining("hidden size 16").hasMessageContaining("has 20");
    }

    @Test
    void rejectsWrongHiddenSizeForReferenceBundles() {
        byte[] a = Fixtures.pyreftZip("A", "");
        assertRejected(() -> importer.importZip(a, new ModelShape(256, 6), "l1", false), "shape_mismatch")
                .hasMessageContaining("288").hasMessageContaining("256");
        byte[] nativeA = importer.importZip(a, PyreftImportTest.STORIES15M, "l1", false).nativeZip();
        assertRejected(() -> importer.importZip(nativeA, new ModelShape(256, 6), null, null), "shape_mismatch")
                .hasMessageContaining("hidden size 288").hasMessageContaining("hidden size 256");
    }

    @Test
    void rejectsLayerOutOfRange() {
        assertRejected(() -> importer.importZip(Fixtures.pyreftZip("A", ""), new ModelShape(288, 3), "l1", false),
                "layer_range").hasMessageContaining("layer 3").hasMessageContaining("0..2");
    }

    @Test
    void rejectsUnknownType() {
        Random rnd = new Random(5);
        var config = PyreftDirs.config("BoundlessRotatedSpaceIntervention", List.of(1), R, D, false);
        byte[] zip = PyreftDirs.zip(config, List.of(loreftState(rnd, orthonormal(rnd))));
        assertRejected(() -> importer.importZip(zip, SHAPE, "l1", null), "unknown_type")
                .hasMessageContaining("BoundlessRotatedSpaceIntervention");
    }

    @Test
    void rejectsBadPositions() {
        byte[] a = Fixtures.pyreftZip("A", "");
        assertRejected(() -> importer.importZip(a, PyreftImportTest.STORIES15M, "x3", false), "positions")
                .hasMessageContaining("'x3'");
        assertRejected(() -> importer.importZip(a, PyreftImportTest.STORIES15M, null, false), "positions")
                .hasMessageContaining("positions");
        // one untied intervention cannot be split between first and last positions
        assertRejected(() -> importer.importZip(a, PyreftImportTest.STORIES15M, "f1+l1", false), "positions")
                .hasMessageContaining("even number");
    }

    @Test
    void rejectsRankThatDisagreesWithConfig() {
        Random rnd = new Random(6);
        assertRejected(() -> importer.importZip(loreftZip(loreftState(rnd, orthonormal(rnd)), 1, 3), SHAPE, "l1",
                null), "tensor_shape").hasMessageContaining("rank 3");
    }

    @Test
    void rejectsFloat64Weights() {
        Random rnd = new Random(7);
        Map<String, Stored> sd = loreftState(rnd, orthonormal(rnd));
        Stored w = sd.get("weight");
        sd.put("weight", new Stored(TorchStorageType.DOUBLE, w.storage(), 0, w.size(), w.stride()));
        assertRejected(() -> importer.importZip(loreftZip(sd, 1, R), SHAPE, "l1", null), "dtype")
                .hasMessageContaining("torch.float64");
    }

    @Test
    void rejectsMissingOrUnexpectedStateDictKeys() {
        Random rnd = new Random(8);
        Map<String, Stored> missing = loreftState(rnd, orthonormal(rnd));
        missing.remove("bias");
        assertRejected(() -> importer.importZip(loreftZip(missing, 1, R), SHAPE, "l1", null), "tensor_shape")
                .hasMessageContaining("bias");
        Map<String, Stored> extra = loreftState(rnd, orthonormal(rnd));
        extra.put("surprise", Stored.contiguous(TorchStorageType.FLOAT, new float[1], 1));
        assertRejected(() -> importer.importZip(loreftZip(extra, 1, R), SHAPE, "l1", null), "tensor_shape")
                .hasMessageContaining("surprise");
    }

    // ---------- content checks, native ----------

    /** Reference bundle B as a native zip, with its manifest and weights edited. */
    private byte[] nativeB(Consumer<ObjectNode> manifest, UnaryOperator<Map<String, FloatTensor>> weights) {
        byte[] zip = PyreftImportTest.importReference(importer, "B", "").nativeZip();
        Map<String, byte[]> files = SafeZip.read(zip, BundleLimits.defaults(), ImportBudget.of(BundleLimits.defaults()), "t");
        ObjectNode json = (ObjectNode) Fixtures.JSON.readTree(new String(files.get("reft.json"),
                StandardCharsets.UTF_8));
        manifest.accept(json);
        Map<String, byte[]> out = new LinkedHashMap<>();
        out.put("reft.json", Fixtures.JSON.writeValueAsString(json).getBytes(StandardCharsets.UTF_8));
        out.put("weights.safetensors", Safetensors.write(weights.apply(
                new LinkedHashMap<>(Safetensors.read(files.get("weights.safetensors"), "t", Long.MAX_VALUE)))));
        return Fixtures.zip(out);
    }

    private static ObjectNode intervention(ObjectNode manifest, int i) {
        return (ObjectNode) manifest.get("interventions").get(i);
    }

    private void assertNativeRejected(Consumer<ObjectNode> manifest, UnaryOperator<Map<String, FloatTensor>> weights,
            String reason, String... messageParts) {
        byte[] zip = nativeB(manifest, weights);
        var a = assertRejected(() -> importer.importZip(zip, PyreftImportTest.STORIES15M, null, null), reason);
        for (String part : messageParts) {
            a.hasMessageContaining(part);
        }
    }

    @Test
    void nativeEditsThatKeepTheBundleValidAreAccepted() {
        byte[] zip = nativeB(m -> intervention(m, 2).put("act", "gelu"), w -> w);
        assertThat(importer.importZip(zip, PyreftImportTest.STORIES15M, null, null).summary().interventions())
                .isEqualTo(6);
    }

    @Test
    void rejectsInvalidNativeBundles() {
        assertNativeRejected(m -> intervention(m, 4).put("layer", 6), w -> w, "layer_range",
                "intervention 4", "layer 6");
        assertNativeRejected(m -> intervention(m, 1).put("type", "superreft"), w -> w, "unknown_type",
                "intervention 1", "superreft");
        assertNativeRejected(m -> intervention(m, 0).put("act", "softplus"), w -> w, "activation", "softplus");
        assertNativeRejected(m -> m.put("prompt_positions", "f3+l"), w -> w, "positions", "f3+l");
        assertNativeRejected(m -> m.put("prompt_positions", "l3"), w -> w, "positions",
                "apply_to first selects nothing");
        assertNativeRejected(m -> m.put("format", "reft-bundle/2"), w -> w, "bundle_format", "reft-bundle/1");
        assertNativeRejected(m -> intervention(m, 0).put("component", "mlp_output"), w -> w, "bundle_format",
                "mlp_output");
        assertNativeRejected(m -> intervention(m, 0).put("rank", 5), w -> w, "tensor_shape", "rank is 5");
        assertNativeRejected(m -> ((ObjectNode) m.get("base_model")).put("num_layers", 8), w -> w,
                "shape_mismatch", "8 layers");
        assertNativeRejected(m -> { }, w -> {
            w.get("3.bias").data()[1] = Float.POSITIVE_INFINITY;
            return w;
        }, "non_finite", "intervention 3", "'bias'", "Infinity");
        assertNativeRejected(m -> { }, w -> {
            w.put("2.bias", FloatTensor.of(new float[5], 5));
            return w;
        }, "tensor_shape", "intervention 2", "'bias' is [5]");
        assertNativeRejected(m -> { }, w -> {
            w.get("5.rotate").data()[0] += 0.1f;
            return w;
        }, "not_orthonormal", "intervention 5");
        assertNativeRejected(m -> ((ObjectNode) intervention(m, 0).get("tensors")).put("proj", "0.weight"), w -> w,
                "bundle_format", "[proj]");
        assertNativeRejected(m -> ((ObjectNode) intervention(m, 0).get("tensors")).put("bias", "nope"), w -> w,
                "bundle_format", "'nope'");
    }

    @Test
    void rejectsMixedTypesInOneBundle() {
        // NodiReFT tensors under intervention 1 (P = W, which is any [r, d]); types must not mix
        assertNativeRejected(m -> {
            ObjectNode iv = intervention(m, 1);
            iv.put("type", "nodireft");
            ObjectNode t = (ObjectNode) iv.get("tensors");
            t.remove("rotate");
            t.put("proj", "1.weight");
        }, w -> w, "mixed_types", "loreft", "nodireft");
    }

    @Test
    void rejectsNativeSettingsThatDisagreeWithTheRequest() {
        byte[] zip = nativeB(m -> { }, w -> w);
        assertRejected(() -> importer.importZip(zip, PyreftImportTest.STORIES15M, "f5+l5", null), "positions")
                .hasMessageContaining("f3+l3");
        assertRejected(() -> importer.importZip(zip, PyreftImportTest.STORIES15M, null, true), "positions")
                .hasMessageContaining("share_weights");
    }
}

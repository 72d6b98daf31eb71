package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import ai.djl.ndarray.NDManager;
import dev.reftserver.intervention.TorchSaveWriter.Pickle;
import dev.reftserver.model.ModelShape;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Bundles built to cost the server more than their size: each is refused with a clear reason before the work it
 * asks for, or, at the limits, imported and loaded for serving under the very same limits.
 */
class HostileBundlesTest {

    private static final int D = 16;
    private static final ModelShape SHAPE = new ModelShape(D, 4);
    /** A hang guard only: every case here is refused in milliseconds. */
    private static final Duration GUARD = Duration.ofSeconds(10);
    private static final String LOREFT_BIN = "intkey_layer_1_comp_block_output_unit_pos_nunit_1#0.bin";

    private final BundleImporter importer = new BundleImporter(BundleLimits.defaults());

    private static AbstractThrowableAssert<?, ? extends Throwable> assertRejected(Runnable r, String reason) {
        return assertThatThrownBy(() -> assertTimeoutPreemptively(GUARD, r::run))
                .isInstanceOf(BundleRejectedException.class)
                .satisfies(e -> assertThat(((BundleRejectedException) e).reason()).isEqualTo(reason));
    }

    // ---------- safetensors ----------

    /** A safetensors file whose header lists {@code ranges} ({name, begin, end}) over {@code dataBytes} of data. */
    private static byte[] safetensors(int dataBytes, Object[]... ranges) {
        ObjectNode header = Fixtures.JSON.createObjectNode();
        for (Object[] r : ranges) {
            long bytes = (long) r[2] - (long) r[1];
            ObjectNode t = header.putObject((String) r[0]);
            t.put("dtype", "F32");
            t.putArray("shape").add(bytes / 4);
            t.putArray("data_offsets").add((long) r[1]).add((long) r[2]);
        }
        byte[] h = Fixtures.JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    @Test
    void refusesTensorsSharingOneByteRangeBeforeDecodingAny() {
        // the attack: a thousand tensors naming the same range, each decoded on its own
        Object[][] ranges = new Object[1000][];
        for (int i = 0; i < ranges.length; i++) {
            ranges[i] = new Object[] {"t" + i, 0L, 4096L};
        }
        byte[] file = safetensors(4096, ranges);
        assertRejected(() -> Safetensors.read(file, "weights", Long.MAX_VALUE), "safetensors")
                .hasMessageContaining("overlap another tensor's bytes");
    }

    @Test
    void refusesRangesThatOverlapLeaveAGapOrStopShortOfTheEnd() {
        assertRejected(() -> Safetensors.read(safetensors(16, new Object[] {"a", 0L, 12L},
                new Object[] {"b", 8L, 16L}), "w", Long.MAX_VALUE), "safetensors")
                .hasMessageContaining("tensor 'b'").hasMessageContaining("overlap");
        assertRejected(() -> Safetensors.read(safetensors(16, new Object[] {"a", 0L, 4L},
                new Object[] {"b", 8L, 16L}), "w", Long.MAX_VALUE), "safetensors")
                .hasMessageContaining("leave a gap at byte 4");
        assertRejected(() -> Safetensors.read(safetensors(16, new Object[] {"a", 4L, 16L}), "w", Long.MAX_VALUE),
                "safetensors").hasMessageContaining("leave a gap at byte 0");
        assertRejected(() -> Safetensors.read(safetensors(16, new Object[] {"a", 0L, 8L}), "w", Long.MAX_VALUE),
                "safetensors").hasMessageContaining("end at byte 8 of a 16-byte data section");
    }

    @Test
    void readsTensorsThatTileTheDataInAnyHeaderOrder() {
        byte[] file = safetensors(16, new Object[] {"b", 8L, 16L}, new Object[] {"a", 0L, 8L},
                new Object[] {"empty", 8L, 8L});
        assertThat(Safetensors.read(file, "w", Long.MAX_VALUE)).containsOnlyKeys("a", "b", "empty");
    }

    @Test
    void refusesTensorsWideningPastTheDecodeBudget() {
        byte[] file = safetensors(16, new Object[] {"a", 0L, 16L});
        assertRejected(() -> Safetensors.read(file, "w", 15), "too_large").hasMessageContaining("widen to 16 bytes");
    }

    @Test
    void refusesAnOverlappingNativeUpload() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("reft.json", manifest(2, 2, "l1", "w"));
        files.put("weights.safetensors", sharedWeights(2, D, "w", true));
        assertRejected(() -> importer.importZip(Fixtures.zip(files), SHAPE, null, null), "safetensors")
                .hasMessageContaining("overlap");
    }

    // ---------- pickles ----------

    /** A pyreft LoReFT directory (rank 2) whose one .bin holds {@code dataPkl} and, if given, storage 0. */
    private static byte[] pyreftWithPickle(byte[] dataPkl, byte[] storage0) {
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bin)) {
            zip.putNextEntry(new ZipEntry("archive/data.pkl"));
            zip.write(dataPkl);
            zip.closeEntry();
            if (storage0 != null) {
                zip.putNextEntry(new ZipEntry("archive/data/0"));
                zip.write(storage0);
                zip.closeEntry();
            }
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", Fixtures.JSON.writeValueAsString(
                PyreftDirs.config("LoreftIntervention", List.of(1), 2, D, false)).getBytes(StandardCharsets.UTF_8));
        files.put(LOREFT_BIN, bin.toByteArray());
        return Fixtures.zip(files);
    }

    /**
     * {@code {dag: 0}} where dag is a tuple of {@code width} references to the level below, {@code depth} levels
     * deep, each level memoized: a few hundred bytes whose hash, walked naively, visits width^depth leaves.
     */
    static byte[] tupleDagKeyPickle(int width, int depth) {
        Pickle p = new Pickle().op(0x80).op(2).op('}');
        p.op('(').str("leaf").op('t').op('q').op(0).op('0');
        for (int level = 1; level <= depth; level++) {
            p.op('(');
            for (int i = 0; i < width; i++) {
                p.op('h').op(level - 1);
            }
            p.op('t').op('q').op(level).op('0');
        }
        return p.op('h').op(depth).op('K').op(0).op('s').op('.').bytes();
    }

    @Test
    void refusesATupleDagDictKeyWithoutHashingIt() {
        byte[] pkl = tupleDagKeyPickle(5, 40);
        assertThat(pkl.length).isLessThan(1024);
        assertRejected(() -> RestrictedUnpickler.load(pkl, "data.pkl", ImportBudget.of(BundleLimits.defaults())),
                "pickle").hasMessageContaining("dict key of type tuple; only string and int keys are allowed");
        assertRejected(() -> importer.importZip(pyreftWithPickle(pkl, null), SHAPE, "l1", null), "pickle");
    }

    @Test
    void refusesAPickleWhoseSharedStructureCostsPastTheWorkBudget() {
        // one memoized list, appended to itself in rounds: each memo reference costs the list's current size
        Pickle p = new Pickle().op(0x80).op(2).op(']').op('q').op(0);
        for (int round = 0; round < 64; round++) {
            p.op('(');
            for (int i = 0; i < 1000; i++) {
                p.op('h').op(0);
            }
            p.op('e');
        }
        byte[] pkl = p.op('.').bytes();
        assertRejected(() -> RestrictedUnpickler.load(pkl, "data.pkl", ImportBudget.of(BundleLimits.defaults())),
                "too_complex").hasMessageContaining("units of work");
    }

    /** A state dict {'w': tensor [2] on a FloatStorage that claims {@code numel} elements}. */
    private static byte[] stateDictWithStorageOf(long numel) {
        Pickle p = new Pickle().op(0x80).op(2);
        p.global("collections", "OrderedDict").op(')').op('R');
        p.op('(').str("w").global("torch._utils", "_rebuild_tensor_v2").op('(');
        p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu");
        p.op(0x8a).op(8).raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(numel).array());
        p.op('t').op('Q');
        p.integer(0).op('(').integer(2).op('t').op('(').integer(1).op('t').op(0x89);
        p.global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
        return p.op('u').op('.').bytes();
    }

    @Test
    void refusesAStorageWhoseByteCountOverflows() {
        // 2^62 floats are 2^64 bytes: zero once the count wraps, which the empty storage matches
        byte[] upload = pyreftWithPickle(stateDictWithStorageOf(1L << 62), new byte[0]);
        assertRejected(() -> importer.importZip(upload, SHAPE, "l1", null), "pickle")
                .hasMessageContaining("claims 4611686018427387904 elements");
        byte[] past = pyreftWithPickle(stateDictWithStorageOf(1L << 29), new byte[0]);
        assertRejected(() -> importer.importZip(past, SHAPE, "l1", null), "pickle")
                .hasMessageContaining("more than any zip entry holds");
    }

    @Test
    void refusesAnOrthogonalParametrizationLargerThanTheModelBeforeRebuildingIt() {
        // a few bytes of storage, viewed with stride 0 as a [2000, 1000] X and a [2000, 2000] base: rebuilding S
        // from them would cost d r^2 = 2e9 multiply-adds for a model whose hidden size is 16
        Map<String, TorchSaveWriter.Stored> sd = new LinkedHashMap<>();
        sd.put("rotate_layer.parametrizations.weight.original", new TorchSaveWriter.Stored(TorchStorageType.FLOAT,
                new float[] {0.5f}, 0, new int[] {2000, 1000}, new long[] {0, 0}));
        sd.put("rotate_layer.parametrizations.weight.0.base", new TorchSaveWriter.Stored(TorchStorageType.FLOAT,
                new float[] {0.5f}, 0, new int[] {2000, 2000}, new long[] {0, 0}));
        byte[] upload = PyreftDirs.zip(PyreftDirs.config("DireftIntervention", List.of(1), 2, D, false),
                List.of(sd));
        assertRejected(() -> importer.importZip(upload, SHAPE, "l1", null), "tensor_shape")
                .hasMessageContaining("should be [16, 2] / [16, 16]");
    }

    // ---------- one tensor named by many interventions ----------

    /**
     * A native manifest of {@code count} LoReFT interventions of rank {@code rank} at layer 0, all naming the
     * tensors {@code prefix}.rotate, .weight and .bias.
     */
    private static byte[] manifest(int count, int rank, String positions, String prefix) {
        ObjectNode root = Fixtures.JSON.createObjectNode();
        root.put("format", "reft-bundle/1");
        root.putObject("base_model").put("hidden_size", SHAPE.hiddenSize()).put("num_layers", SHAPE.numLayers());
        root.put("prompt_positions", positions);
        root.put("share_weights", false);
        ArrayNode list = root.putArray("interventions");
        for (int i = 0; i < count; i++) {
            ObjectNode n = list.addObject();
            n.put("layer", 0).put("component", "block_output").put("type", "loreft").put("rank", rank)
                    .put("apply_to", "all");
            n.putObject("tensors").put("rotate", prefix + ".rotate").put("weight", prefix + ".weight")
                    .put("bias", prefix + ".bias");
        }
        return Fixtures.JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
    }

    /** One valid set of LoReFT tensors (rank {@code rank}) named {@code prefix}.*, or, if broken, overlapping. */
    private static byte[] sharedWeights(int rank, int d, String prefix, boolean overlapping) {
        Random rnd = new Random(7);
        Map<String, FloatTensor> t = new LinkedHashMap<>();
        t.put(prefix + ".rotate", PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, d, rank)));
        t.put(prefix + ".weight", FloatTensor.of(PyreftDirs.gaussian(rnd, rank * d, 0.1), rank, d));
        t.put(prefix + ".bias", FloatTensor.of(PyreftDirs.gaussian(rnd, rank, 0.1), rank));
        byte[] bytes = Safetensors.write(t);
        if (overlapping) {
            // point weight at rotate's bytes (same size when rank * d == d * rank)
            String header = new String(bytes, 8, (int) ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
                    .getLong(0), StandardCharsets.UTF_8);
            long size = 4L * rank * d;
            String edited = header.replace("[" + size + "," + 2 * size + "]", "[0," + size + "]");
            assertThat(edited).isNotEqualTo(header);
            edited = edited + " ".repeat(header.length() - edited.length());
            System.arraycopy(edited.getBytes(StandardCharsets.UTF_8), 0, bytes, 8, edited.length());
        }
        return bytes;
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 288})
    void refusesAtUploadABundleWhoseSharedTensorExpandsPastTheLimit(int rank) {
        // the attack: a few KB naming one tensor set thousands of times. At rank 8 on a 288-wide model the
        // expansion (76 MB) was once accepted but could not load; at rank 288 (2.7 GB) writing it failed.
        ModelShape stories = new ModelShape(288, 6);
        Map<String, byte[]> files = new LinkedHashMap<>();
        ObjectNode manifest = (ObjectNode) Fixtures.JSON.readTree(new String(manifest(4096, rank, "l1", "w"),
                StandardCharsets.UTF_8));
        manifest.putObject("base_model").put("hidden_size", 288).put("num_layers", 6);
        files.put("reft.json", Fixtures.JSON.writeValueAsString(manifest).getBytes(StandardCharsets.UTF_8));
        files.put("weights.safetensors", sharedWeights(rank, 288, "w", false));
        assertRejected(() -> importer.importZip(Fixtures.zip(files), stories, null, null), "too_large")
                .hasMessageContaining("4096 interventions expand to")
                .hasMessageContaining("more than the limit of " + BundleLimits.defaults().maxParameterBytes())
                .satisfies(e -> assertThat(((BundleRejectedException) e).tooLarge()).isTrue());
    }

    @Test
    void aBundleExactlyAtTheParameterLimitUploadsAndLoadsUnderTheSameLimits() {
        int count = 8;
        int rank = 4;
        long device = 4L * count * rank * (2 * D + 3); // one layer: k x r x (2d + 3) fp32
        long stored = 4L * count * (2L * rank * D + 2 * rank);
        assertThat(device).isGreaterThan(stored);
        Supplier<BundleLimits> atLimit = () -> limitsWithParameters(device, count);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("reft.json", manifest(count, rank, "l1", "w"));
        files.put("weights.safetensors", sharedWeights(rank, D, "w", false));
        byte[] upload = Fixtures.zip(files);

        ImportedBundle imported = new BundleImporter(atLimit.get()).importZip(upload, SHAPE, null, null);
        assertThat(imported.summary().interventions()).isEqualTo(count);
        try (NDManager manager = NDManager.newBaseManager();
                LoadedBundle loaded = LoadedBundle.load(imported.nativeZip(), SHAPE, atLimit.get(), manager)) {
            assertThat(loaded.deviceBytes()).isEqualTo(device);
        }
        assertRejected(() -> new BundleImporter(limitsWithParameters(device - 1, count))
                .importZip(upload, SHAPE, null, null), "too_large")
                .hasMessageContaining("(" + stored + " stored, " + device + " packed for serving)");
    }

    @Test
    void aBundleOverTheInterventionLimitIsRefusedBeforeItsWeightsAreRead() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("reft.json", manifest(9, 2, "l1", "w"));
        files.put("weights.safetensors", new byte[3]); // never read
        assertRejected(() -> new BundleImporter(limitsWithParameters(1 << 20, 8)).importZip(Fixtures.zip(files),
                SHAPE, null, null), "too_large").hasMessageContaining("9 interventions, more than the limit of 8");
    }

    private static BundleLimits limitsWithParameters(long parameterBytes, int interventions) {
        long overhead = interventions * BundleLimits.STORED_BYTES_PER_INTERVENTION;
        return new BundleLimits(1 << 20, parameterBytes + overhead, Math.max(1 << 20, parameterBytes + 2 * overhead),
                64, 200, interventions, parameterBytes, Duration.ofSeconds(10));
    }

    // ---------- time ----------

    @Test
    void anImportPastItsTimeBudgetIsRefused() {
        BundleLimits d = BundleLimits.defaults();
        BundleLimits instant = new BundleLimits(d.maxZipBytes(), d.maxEntryBytes(), d.maxTotalUncompressedBytes(),
                d.maxEntries(), d.maxInflationRatio(), d.maxInterventions(), d.maxParameterBytes(),
                Duration.ofNanos(1));
        assertRejected(() -> new BundleImporter(instant).importZip(UploadFixtures.pyreftLoreft(1, D), SHAPE, "l1",
                null), "too_complex").hasMessageContaining("takes longer than");
    }
}

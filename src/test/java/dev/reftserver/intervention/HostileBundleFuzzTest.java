package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ModelShape;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Seeded mutation fuzzing of every parser an upload reaches: valid native bundles, pyreft directories (synthetic
 * and the real reference save), safetensors files and torch pickles are bit-flipped, truncated, spliced, their
 * JSON fields and tensor headers edited, their zip entries duplicated; every result must either import as a valid
 * bundle (one that also loads for serving) or be refused with a {@link BundleRejectedException}, never another
 * exception, never a hang. Each case is named by its seed, so a failure is rerun exactly.
 */
class HostileBundleFuzzTest {

    private static final long SEED = 0x5EED_B0D1E5L;
    private static final int D = 16;
    private static final ModelShape SHAPE = new ModelShape(D, 4);
    /** A hang guard, not a timing assertion. */
    private static final Duration GUARD = Duration.ofSeconds(5);

    private static final BundleImporter IMPORTER = new BundleImporter(BundleLimits.defaults());

    /** A valid upload and how to import it. */
    private record Seed(String name, byte[] zip, ModelShape shape, String positions, Boolean shareWeights) {
    }

    private static final Supplier<List<Seed>> UPLOADS = () -> List.of(
            new Seed("native", UploadFixtures.nativeLoreft(1, SHAPE, List.of(0, 2), 2, "f1+l1", 0.1), SHAPE, null,
                    null),
            new Seed("pyreft", UploadFixtures.pyreftLoreft(2, D), SHAPE, "l1", null),
            new Seed("pyreft-fp16-dotted", pyreftHalfDotted(3), SHAPE, "f1+l1", false),
            new Seed("reference-B", UploadFixtures.referencePyreftZip("B"), PyreftImportTest.STORIES15M,
                    Fixtures.json("reference/bundles/B/meta.json").get("positions").stringValue(),
                    Fixtures.json("reference/bundles/B/meta.json").get("share_weights").booleanValue()));

    /** LoReFT at layers 0 and 2, first and last untied, fp16 storages, pyvene's older dotted keys. */
    private static byte[] pyreftHalfDotted(long seed) {
        Random rnd = new Random(seed);
        List<Map<String, TorchSaveWriter.Stored>> states = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Map<String, TorchSaveWriter.Stored> sd = new LinkedHashMap<>();
            sd.put("weight", TorchSaveWriter.Stored.contiguous(TorchStorageType.HALF,
                    PyreftDirs.gaussian(rnd, 2 * D, 0.3), 2, D));
            sd.put("bias", TorchSaveWriter.Stored.contiguous(TorchStorageType.HALF,
                    PyreftDirs.gaussian(rnd, 2, 0.3), 2));
            sd.put("rotate_layer", TorchSaveWriter.Stored.of(
                    PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, D, 2))));
            states.add(sd);
        }
        return PyreftDirs.zip(PyreftDirs.config("LoreftIntervention", List.of(0, 2, 0, 2), 2, D, true), states);
    }

    // ---------- the properties ----------

    private static NDManager manager;

    @BeforeAll
    static void openManager() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void closeManager() {
        manager.close();
    }

    /**
     * Imports or refuses; an import must be a valid bundle whose canonical form imports to the same bytes and
     * loads for serving under the same limits.
     */
    private static void importsOrRefuses(byte[] zip, Seed seed) {
        assertTimeoutPreemptively(GUARD, () -> {
            ImportedBundle imported;
            try {
                imported = IMPORTER.importZip(zip, seed.shape(), seed.positions(), seed.shareWeights());
            } catch (BundleRejectedException expected) {
                assertThat(expected.reason()).isNotBlank();
                assertThat(expected.getMessage()).isNotBlank();
                return;
            }
            ImportedBundle again = IMPORTER.importZip(imported.nativeZip(), seed.shape(), null, null);
            assertThat(again.nativeZip()).isEqualTo(imported.nativeZip());
            try (LoadedBundle loaded = LoadedBundle.load(imported.nativeZip(), seed.shape(), IMPORTER.limits(),
                    manager)) {
                assertThat(loaded.deviceBytes()).isBetween(1L, IMPORTER.limits().maxParameterBytes());
            }
        });
    }

    private static void parsesOrRefuses(Runnable parse) {
        assertTimeoutPreemptively(GUARD, () -> {
            try {
                parse.run();
            } catch (BundleRejectedException expected) {
                assertThat(expected.reason()).isNotBlank();
            }
        });
    }

    // ---------- the suites ----------

    @Test
    void everySeedImports() {
        for (Seed seed : UPLOADS.get()) {
            assertThat(IMPORTER.importZip(seed.zip(), seed.shape(), seed.positions(), seed.shareWeights())
                    .summary().interventions()).as(seed.name()).isPositive();
        }
    }

    @TestFactory
    Stream<DynamicTest> mutatedUploadsImportOrAreRefused() {
        List<Seed> seeds = UPLOADS.get();
        return IntStream.range(0, 480).mapToObj(i -> {
            Seed seed = seeds.get(i % seeds.size());
            long s = SEED + i;
            return DynamicTest.dynamicTest(seed.name() + " #" + i + " (seed " + s + ")", () -> {
                byte[] mutated = mutateUpload(seed.zip(), new Random(s));
                importsOrRefuses(mutated, seed);
            });
        });
    }

    @TestFactory
    Stream<DynamicTest> mutatedSafetensorsParseOrAreRefused() {
        byte[] weights = files(UPLOADS.get().get(0).zip()).get(NativeBundleFormat.WEIGHTS);
        return IntStream.range(0, 200).mapToObj(i -> {
            long s = SEED + 10_000 + i;
            return DynamicTest.dynamicTest("safetensors #" + i + " (seed " + s + ")", () -> {
                byte[] mutated = mutateSafetensors(weights, new Random(s));
                parsesOrRefuses(() -> Safetensors.read(mutated, "weights", 1 << 20));
            });
        });
    }

    @TestFactory
    Stream<DynamicTest> mutatedPicklesParseOrAreRefused() {
        List<byte[]> pickles = new ArrayList<>();
        for (Seed seed : UPLOADS.get()) {
            for (Map.Entry<String, byte[]> e : files(seed.zip()).entrySet()) {
                if (e.getKey().endsWith(".bin")) {
                    pickles.add(dataPkl(files(e.getValue())));
                }
            }
        }
        return IntStream.range(0, 240).mapToObj(i -> {
            long s = SEED + 20_000 + i;
            byte[] pickle = pickles.get(i % pickles.size());
            return DynamicTest.dynamicTest("pickle #" + i + " (seed " + s + ")", () -> {
                Random rnd = new Random(s);
                byte[] mutated = rnd.nextInt(3) == 0 ? editPickleInteger(pickle, rnd) : mutateBytes(pickle, rnd);
                parsesOrRefuses(() -> RestrictedUnpickler.load(mutated, "data.pkl",
                        ImportBudget.of(BundleLimits.defaults())));
            });
        });
    }

    /** The mutations reach every parser behind the zip, and some keep the bundle valid. */
    @Test
    void mutationsReachEveryParser() {
        Map<String, Integer> outcomes = new java.util.TreeMap<>();
        List<Seed> seeds = UPLOADS.get();
        for (int i = 0; i < 240; i++) {
            Seed seed = seeds.get(i % seeds.size());
            byte[] mutated = mutateUpload(seed.zip(), new Random(SEED + i));
            try {
                IMPORTER.importZip(mutated, seed.shape(), seed.positions(), seed.shareWeights());
                outcomes.merge("imported", 1, Integer::sum);
            } catch (BundleRejectedException e) {
                outcomes.merge(e.reason(), 1, Integer::sum);
            }
        }
        assertThat(outcomes).containsKeys("imported", "bad_zip", "bundle_format", "safetensors", "torch_file",
                "pickle", "pickle_global", "pickle_opcode");
    }

    // ---------- mutating an upload ----------

    /** One mutation of a zipped upload, mostly inside an entry (re-zipped, so it reaches the parser behind). */
    private static byte[] mutateUpload(byte[] zip, Random rnd) {
        int pick = rnd.nextInt(10);
        if (pick == 0) {
            return mutateBytes(zip, rnd); // the archive itself
        }
        Map<String, byte[]> files = files(zip);
        List<String> names = new ArrayList<>(files.keySet());
        String name = names.get(rnd.nextInt(names.size()));
        if (pick == 1) {
            return storedZip(files, name); // the same entry twice
        }
        files.put(name, mutateFile(name, files.get(name), rnd));
        return Fixtures.zip(files);
    }

    private static byte[] mutateFile(String name, byte[] content, Random rnd) {
        if (name.endsWith(".json")) {
            return rnd.nextInt(4) == 0 ? mutateBytes(content, rnd) : mutateJson(content, rnd);
        }
        if (name.endsWith(".safetensors")) {
            return mutateSafetensors(content, rnd);
        }
        if (name.endsWith(".bin")) {
            return mutateTorchZip(content, rnd);
        }
        return mutateBytes(content, rnd);
    }

    /** A torch.save zip with its pickle, one storage or its byteorder mutated, or an entry duplicated. */
    private static byte[] mutateTorchZip(byte[] bin, Random rnd) {
        Map<String, byte[]> files = files(bin);
        List<String> names = new ArrayList<>(files.keySet());
        String name = names.get(rnd.nextInt(names.size()));
        int pick = rnd.nextInt(8);
        if (pick == 0) {
            return mutateBytes(bin, rnd);
        }
        if (pick == 1) {
            return storedZip(files, name);
        }
        if (pick < 5) {
            name = names.stream().filter(n -> n.endsWith("data.pkl")).findFirst().orElse(name);
            files.put(name, pick == 4 ? editPickleInteger(files.get(name), rnd) : mutateBytes(files.get(name), rnd));
        } else {
            files.put(name, mutateBytes(files.get(name), rnd));
        }
        return storedZip(files, null);
    }

    /** A safetensors file with one tensor's dtype, shape or offsets edited, its header JSON edited, or its bytes. */
    private static byte[] mutateSafetensors(byte[] st, Random rnd) {
        int pick = rnd.nextInt(4);
        if (pick == 0) {
            return mutateBytes(st, rnd);
        }
        int headerLen = (int) ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        byte[] original = java.util.Arrays.copyOfRange(st, 8, 8 + headerLen);
        byte[] header = pick == 1 ? mutateJson(original, rnd) : editTensorHeader(original, rnd);
        ByteBuffer out = ByteBuffer.allocate(8 + header.length + st.length - 8 - headerLen)
                .order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header).put(st, 8 + headerLen, st.length - 8 - headerLen);
        return out.array();
    }

    private static final List<String> DTYPES = List.of("F32", "F16", "BF16", "F64", "I8", "U8", "f32", "");

    /** One tensor's dtype, one of its dims, or one of its offsets set to a neighbouring or extreme value. */
    private static byte[] editTensorHeader(byte[] json, Random rnd) {
        ObjectNode root = (ObjectNode) Fixtures.JSON.readTree(new String(json, StandardCharsets.UTF_8));
        List<String> names = new ArrayList<>(root.propertyNames());
        names.remove("__metadata__");
        ObjectNode t = (ObjectNode) root.get(names.get(rnd.nextInt(names.size())));
        switch (rnd.nextInt(3)) {
            case 0 -> t.put("dtype", DTYPES.get(rnd.nextInt(DTYPES.size())));
            case 1 -> editLongs((ArrayNode) t.get("shape"), rnd);
            default -> {
                if (rnd.nextBoolean()) {
                    editLongs((ArrayNode) t.get("data_offsets"), rnd);
                } else {
                    // the offsets of another tensor: an overlap
                    ObjectNode other = (ObjectNode) root.get(names.get(rnd.nextInt(names.size())));
                    t.set("data_offsets", other.get("data_offsets").deepCopy());
                }
            }
        }
        return Fixtures.JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
    }

    private static void editLongs(ArrayNode a, Random rnd) {
        if (a.isEmpty()) {
            a.add(rnd.nextInt(4));
            return;
        }
        int i = rnd.nextInt(a.size());
        long v = a.get(i).asLong();
        long[] choices = {v + 1, v - 1, v * 2, v / 2, 0, -1, Integer.MAX_VALUE, 1L << 32, Long.MAX_VALUE,
            Long.MIN_VALUE, (1L << 62) + v};
        a.set(i, JsonNodeFactory.instance.numberNode(choices[rnd.nextInt(choices.length)]));
    }

    /** A BININT, BININT1 or BININT2 argument (sizes, strides, offsets, element counts) set to an extreme value. */
    private static byte[] editPickleInteger(byte[] pickle, Random rnd) {
        List<Integer> at = new ArrayList<>();
        for (int i = 2; i < pickle.length - 4; i++) {
            int op = pickle[i] & 0xFF;
            if (op == 'J' || op == 'K' || op == 'M') {
                at.add(i);
            }
        }
        if (at.isEmpty()) {
            return mutateBytes(pickle, rnd);
        }
        byte[] b = pickle.clone();
        int i = at.get(rnd.nextInt(at.size()));
        int[] values = {0, 1, -1, 2, 255, 65535, Integer.MAX_VALUE, Integer.MIN_VALUE, 1 << 30, 288};
        int v = values[rnd.nextInt(values.length)];
        switch (b[i] & 0xFF) {
            case 'J' -> ByteBuffer.wrap(b, i + 1, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(v);
            case 'K' -> b[i + 1] = (byte) v;
            default -> ByteBuffer.wrap(b, i + 1, 2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v);
        }
        return b;
    }

    // ---------- generic mutators ----------

    private static final List<Function<JsonNodeFactory, JsonNode>> ODD_VALUES = List.of(
            f -> f.numberNode(-1), f -> f.numberNode(0), f -> f.numberNode(1), f -> f.numberNode(2),
            f -> f.numberNode(288), f -> f.numberNode(Integer.MAX_VALUE), f -> f.numberNode(Long.MAX_VALUE),
            f -> f.numberNode(Long.MIN_VALUE), f -> f.numberNode(1e308), f -> f.numberNode(0.5),
            f -> f.numberNode(new java.math.BigInteger("123456789012345678901234567890")),
            f -> f.stringNode(""), f -> f.stringNode("F64"), f -> f.stringNode("BF16"), f -> f.stringNode("F16"),
            f -> f.stringNode("all"), f -> f.stringNode("f99999+l99999"), f -> f.stringNode("a\u0000b"),
            f -> f.nullNode(), f -> f.booleanNode(true), f -> f.arrayNode(), f -> f.objectNode(),
            f -> f.arrayNode().add(0).add(1 << 30), f -> f.arrayNode().add(-4).add(4));

    /** Replaces, removes or duplicates one node of a JSON document (or mutates its bytes if it does not parse). */
    static byte[] mutateJson(byte[] json, Random rnd) {
        JsonNode root;
        try {
            root = Fixtures.JSON.readTree(new String(json, StandardCharsets.UTF_8));
        } catch (RuntimeException ex) {
            return mutateBytes(json, rnd);
        }
        List<JsonNode> containers = new ArrayList<>();
        collectContainers(root, containers);
        JsonNode target = containers.get(rnd.nextInt(containers.size()));
        JsonNode odd = ODD_VALUES.get(rnd.nextInt(ODD_VALUES.size())).apply(JsonNodeFactory.instance);
        if (target instanceof ObjectNode o && !o.isEmpty()) {
            List<String> fields = new ArrayList<>(o.propertyNames());
            String field = fields.get(rnd.nextInt(fields.size()));
            switch (rnd.nextInt(4)) {
                case 0 -> o.remove(field);
                case 1 -> o.set(field + (rnd.nextBoolean() ? "x" : ""), o.get(field).deepCopy());
                default -> o.set(field, odd);
            }
        } else if (target instanceof ArrayNode a && !a.isEmpty()) {
            int i = rnd.nextInt(a.size());
            switch (rnd.nextInt(4)) {
                case 0 -> a.remove(i);
                case 1 -> {
                    for (int k = rnd.nextInt(1000) + 1; k > 0; k--) {
                        a.add(a.get(i).deepCopy());
                    }
                }
                default -> a.set(i, odd);
            }
        } else {
            return mutateBytes(json, rnd);
        }
        return Fixtures.JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
    }

    private static void collectContainers(JsonNode n, List<JsonNode> out) {
        if (n.isContainer()) {
            out.add(n);
            for (JsonNode child : n) {
                collectContainers(child, out);
            }
        }
    }

    /** Bit flips, truncation, a splice of its own bytes, a run of random or extreme bytes. */
    static byte[] mutateBytes(byte[] in, Random rnd) {
        byte[] b = in.clone();
        if (b.length == 0) {
            return new byte[] {(byte) rnd.nextInt()};
        }
        switch (rnd.nextInt(6)) {
            case 0 -> {
                for (int k = rnd.nextInt(8) + 1; k > 0; k--) {
                    int i = rnd.nextInt(b.length);
                    b[i] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            case 1 -> b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            case 2 -> {
                int from = rnd.nextInt(b.length);
                int len = rnd.nextInt(Math.min(b.length - from, 64)) + 1;
                int to = rnd.nextInt(b.length);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(b, 0, to);
                out.write(b, from, len);
                out.write(b, to, b.length - to);
                b = out.toByteArray();
            }
            case 3 -> {
                int at = rnd.nextInt(b.length);
                int len = Math.min(b.length - at, rnd.nextInt(8) + 1);
                byte fill = (byte) (rnd.nextBoolean() ? 0xFF : rnd.nextBoolean() ? 0x7F : 0x80);
                for (int i = at; i < at + len; i++) {
                    b[i] = rnd.nextBoolean() ? fill : (byte) rnd.nextInt();
                }
            }
            case 4 -> {
                int at = rnd.nextInt(b.length);
                b[at] = (byte) rnd.nextInt();
            }
            default -> {
                int from = rnd.nextInt(b.length);
                int len = rnd.nextInt(Math.min(b.length - from, 256)) + 1;
                int to = rnd.nextInt(b.length);
                System.arraycopy(b, from, b, Math.min(to, b.length - len), len);
            }
        }
        return b;
    }

    // ---------- zips ----------

    private static Map<String, byte[]> files(byte[] zip) {
        BundleLimits limits = BundleLimits.defaults();
        return new LinkedHashMap<>(SafeZip.read(zip, limits, ImportBudget.of(limits), "seed"));
    }

    private static byte[] dataPkl(Map<String, byte[]> torchZip) {
        return torchZip.entrySet().stream().filter(e -> e.getKey().endsWith("data.pkl")).findFirst().orElseThrow()
                .getValue();
    }

    /** A zip of STORED entries, written by hand so that {@code duplicate} (if not null) can appear twice. */
    static byte[] storedZip(Map<String, byte[]> files, String duplicate) {
        List<Map.Entry<String, byte[]>> entries = new ArrayList<>(files.entrySet());
        if (duplicate != null) {
            entries.add(Map.entry(duplicate, files.get(duplicate)));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream central = new ByteArrayOutputStream();
        for (Map.Entry<String, byte[]> e : entries) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            byte[] data = e.getValue();
            CRC32 crc = new CRC32();
            crc.update(data);
            int offset = out.size();
            ByteBuffer local = ByteBuffer.allocate(30).order(ByteOrder.LITTLE_ENDIAN);
            local.putInt(0x04034b50).putShort((short) 20).putShort((short) 0x800).putShort((short) 0)
                    .putInt(0).putInt((int) crc.getValue()).putInt(data.length).putInt(data.length)
                    .putShort((short) name.length).putShort((short) 0);
            out.writeBytes(local.array());
            out.writeBytes(name);
            out.writeBytes(data);
            ByteBuffer c = ByteBuffer.allocate(46).order(ByteOrder.LITTLE_ENDIAN);
            c.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0x800)
                    .putShort((short) 0).putInt(0).putInt((int) crc.getValue()).putInt(data.length)
                    .putInt(data.length).putShort((short) name.length).putShort((short) 0).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0).putInt(0).putInt(offset);
            central.writeBytes(c.array());
            central.writeBytes(name);
        }
        int cdOffset = out.size();
        out.writeBytes(central.toByteArray());
        ByteBuffer end = ByteBuffer.allocate(22).order(ByteOrder.LITTLE_ENDIAN);
        end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) entries.size())
                .putShort((short) entries.size()).putInt(central.size()).putInt(cdOffset).putShort((short) 0);
        out.writeBytes(end.array());
        return out.toByteArray();
    }
}

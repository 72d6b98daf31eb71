package dev.reftserver.intervention;

import dev.reftserver.intervention.TorchSaveWriter.Pickle;
import dev.reftserver.intervention.TorchSaveWriter.Stored;
import dev.reftserver.model.ModelShape;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Bundle uploads for tests outside this package (the HTTP tests): the reference pyreft directories zipped,
 * synthetic native LoReFT bundles, and pyreft directories each broken in one way the importer must refuse.
 */
public final class UploadFixtures {

    /** The one {@code .bin} of the single-intervention pyreft directories below (LoReFT at layer 1). */
    public static final String LOREFT_BIN = "intkey_layer_1_comp_block_output_unit_pos_nunit_1#0.bin";

    private static final int RANK = 4;

    private UploadFixtures() {
    }

    /** Reference bundle A, B or D: its pyreft save directory zipped with the files at the zip's root. */
    public static byte[] referencePyreftZip(String bundle) {
        return Fixtures.pyreftZip(bundle, "");
    }

    /**
     * A native {@code reft-bundle/1} LoReFT bundle with untied first/last interventions at each of {@code layers}:
     * S random orthonormal (QR of a seeded Gaussian matrix), W and b Gaussian times {@code scale}.
     */
    public static byte[] nativeLoreft(long seed, ModelShape shape, List<Integer> layers, int rank, String positions,
            double scale) {
        Random rnd = new Random(seed);
        int d = shape.hiddenSize();
        List<Intervention> interventions = new ArrayList<>();
        for (ApplyTo applyTo : List.of(ApplyTo.FIRST, ApplyTo.LAST)) {
            for (int layer : layers) {
                FloatTensor rotate = PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, d, rank));
                FloatTensor weight = FloatTensor.of(PyreftDirs.gaussian(rnd, rank * d, scale), rank, d);
                FloatTensor bias = FloatTensor.of(PyreftDirs.gaussian(rnd, rank, scale), rank);
                interventions.add(new LoreftIntervention(layer, applyTo, Activation.LINEAR, rotate, weight, bias));
            }
        }
        return NativeBundleFormat.write(new ReftBundle(d, shape.numLayers(), PositionSpec.parse(positions), false,
                interventions));
    }

    /**
     * A native bundle of {@code type} (wire name, e.g. {@code direft}) with untied first/last interventions at layers
     * 1 and 3 (rank 4) for positions {@code f2+l2}, every tensor random (S orthonormal).
     */
    public static byte[] nativeOfType(String type, long seed, ModelShape shape) {
        Random rnd = new Random(seed);
        ReftType t = ReftType.fromWireName(type, "fixture");
        List<Intervention> interventions = new ArrayList<>();
        for (ApplyTo applyTo : List.of(ApplyTo.FIRST, ApplyTo.LAST)) {
            for (int layer : List.of(1, 3)) {
                interventions.add(randomIntervention(t, layer, applyTo, shape.hiddenSize(), RANK, rnd));
            }
        }
        return NativeBundleFormat.write(new ReftBundle(shape.hiddenSize(), shape.numLayers(),
                PositionSpec.parse("f2+l2"), false, interventions));
    }

    /** An intervention of {@code type} with a random orthonormal S and Gaussian (0.3) W, b, P, p; linear. */
    static Intervention randomIntervention(ReftType type, int layer, ApplyTo applyTo, int d, int rank, Random rnd) {
        FloatTensor s = PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, d, rank));
        FloatTensor p = FloatTensor.of(PyreftDirs.gaussian(rnd, rank * d, 0.3), rank, d);
        FloatTensor w = FloatTensor.of(PyreftDirs.gaussian(rnd, rank * d, 0.3), rank, d);
        FloatTensor b = FloatTensor.of(PyreftDirs.gaussian(rnd, rank, 0.3), rank);
        FloatTensor pb = FloatTensor.of(PyreftDirs.gaussian(rnd, rank, 0.3), rank);
        return switch (type) {
            case LOREFT -> new LoreftIntervention(layer, applyTo, Activation.LINEAR, s, w, b);
            case DIREFT -> new DireftIntervention(layer, applyTo, Activation.LINEAR, s, w, b);
            case NODIREFT -> new NodireftIntervention(layer, applyTo, Activation.LINEAR, p, w, b);
            case NOREFT -> new NoreftIntervention(layer, applyTo, Activation.LINEAR, p, w, b, pb);
            case CONSREFT -> new ConsreftIntervention(layer, applyTo, s, b);
            case LOBIREFT -> new LobireftIntervention(layer, applyTo, s, b);
        };
    }

    /**
     * A native LoReFT bundle of a few KB whose {@code count} interventions (spread over the layers, applied to all
     * positions of {@code l1}) all name one tensor set of rank {@code rank}: each counts in full once expanded.
     */
    public static byte[] nativeSharingOneTensorSet(ModelShape shape, int count, int rank) {
        Random rnd = new Random(count * 31L + rank);
        int d = shape.hiddenSize();
        Map<String, FloatTensor> weights = new LinkedHashMap<>();
        weights.put("s", PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, d, rank)));
        weights.put("w", FloatTensor.of(PyreftDirs.gaussian(rnd, rank * d, 0.01), rank, d));
        weights.put("b", FloatTensor.of(PyreftDirs.gaussian(rnd, rank, 0.01), rank));
        var manifest = Fixtures.JSON.createObjectNode();
        manifest.put("format", NativeBundleFormat.FORMAT);
        manifest.putObject("base_model").put("hidden_size", d).put("num_layers", shape.numLayers());
        manifest.put("prompt_positions", "l1");
        manifest.put("share_weights", false);
        var list = manifest.putArray("interventions");
        for (int i = 0; i < count; i++) {
            var n = list.addObject();
            n.put("layer", i % shape.numLayers()).put("component", NativeBundleFormat.COMPONENT)
                    .put("type", "loreft").put("rank", rank).put("apply_to", "all");
            n.putObject("tensors").put("rotate", "s").put("weight", "w").put("bias", "b");
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(NativeBundleFormat.MANIFEST, Fixtures.JSON.writeValueAsString(manifest)
                .getBytes(StandardCharsets.UTF_8));
        files.put(NativeBundleFormat.WEIGHTS, Safetensors.write(weights));
        return Fixtures.zip(files);
    }

    /**
     * A pyreft LoReFT directory (layer 1, rank 4, hidden {@code hidden}) whose {@code .bin} pickles a call to
     * {@code module.name(command)}: loaded with Python's pickle, it would run the command.
     */
    public static byte[] pyreftWithForeignGlobal(int hidden, String module, String name, String command) {
        Pickle p = new Pickle().op(0x80).op(2);
        p.global(module, name).str(command).op(0x85).op('R').op('.');
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bin)) {
            zip.putNextEntry(new ZipEntry("archive/data.pkl"));
            zip.write(p.bytes());
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("archive/byteorder"));
            zip.write("little".getBytes(StandardCharsets.US_ASCII));
            zip.closeEntry();
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", configBytes("LoreftIntervention", 1, hidden));
        files.put(LOREFT_BIN, bin.toByteArray());
        return Fixtures.zip(files);
    }

    /** A well-formed LoReFT pyreft directory at layer 1 for a model of hidden size {@code hidden}. */
    public static byte[] pyreftLoreft(long seed, int hidden) {
        return loreft(seed, hidden, 1, "LoreftIntervention", Defect.NONE);
    }

    /** The same with one weight NaN. */
    public static byte[] pyreftLoreftWithNan(long seed, int hidden) {
        return loreft(seed, hidden, 1, "LoreftIntervention", Defect.NAN_WEIGHT);
    }

    /** The same with a Gaussian, not orthonormal, rotation S. */
    public static byte[] pyreftLoreftNotOrthonormal(long seed, int hidden) {
        return loreft(seed, hidden, 1, "LoreftIntervention", Defect.GAUSSIAN_ROTATE);
    }

    /** A well-formed LoReFT at {@code layer} (which may be past the model's last block). */
    public static byte[] pyreftLoreftAtLayer(long seed, int hidden, int layer) {
        return loreft(seed, hidden, layer, "LoreftIntervention", Defect.NONE);
    }

    /** LoReFT tensors under a pyvene type that ReFT does not know. */
    public static byte[] pyreftOfType(long seed, int hidden, String pyreftClass) {
        return loreft(seed, hidden, 1, pyreftClass, Defect.NONE);
    }

    /** A zip of the given entries, deflated, in map order, names taken as they are. */
    public static byte[] zip(Map<String, byte[]> files) {
        return Fixtures.zip(files);
    }

    private enum Defect { NONE, NAN_WEIGHT, GAUSSIAN_ROTATE }

    private static byte[] loreft(long seed, int hidden, int layer, String pyreftClass, Defect defect) {
        Random rnd = new Random(seed);
        Map<String, Stored> sd = new LinkedHashMap<>();
        float[] weight = PyreftDirs.gaussian(rnd, RANK * hidden, 0.3);
        if (defect == Defect.NAN_WEIGHT) {
            weight[5] = Float.NaN;
        }
        sd.put("weight", Stored.contiguous(TorchStorageType.FLOAT, weight, RANK, hidden));
        sd.put("bias", Stored.contiguous(TorchStorageType.FLOAT, PyreftDirs.gaussian(rnd, RANK, 0.3), RANK));
        float[] rotate = defect == Defect.GAUSSIAN_ROTATE ? PyreftDirs.gaussian(rnd, hidden * RANK, 1.0)
                : PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, hidden, RANK)).data();
        sd.put("rotate_layer", Stored.contiguous(TorchStorageType.FLOAT, rotate, hidden, RANK));
        return PyreftDirs.zip(PyreftDirs.config(pyreftClass, List.of(layer), RANK, hidden, false), List.of(sd));
    }

    private static byte[] configBytes(String pyreftClass, int layer, int hidden) {
        return Fixtures.JSON.writeValueAsString(PyreftDirs.config(pyreftClass, List.of(layer), RANK, hidden, false))
                .getBytes(StandardCharsets.UTF_8);
    }
}

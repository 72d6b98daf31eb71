package dev.reftserver.intervention;

import java.util.Random;
import java.util.List;
import java.util.ArrayList;
import dev.reftserver.model.ModelShape;
import ai.djl.ndarray.NDManager;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Test resources and zip building. */
final class Fixtures {

    static final JsonMapper JSON = JsonMapper.builder().build();

    private Fixtures() {
    }

    static Path resourcePath(String path) {
        URL url = Fixtures.class.getResource("/" + path);
        if (url == null) {
            throw new IllegalArgumentException("missing test resource " + path);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException ex) {
            throw new IllegalStateException(ex);
        }
    }

    static byte[] resource(String path) {
        try {
            return Files.readAllBytes(resourcePath(path));
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    static JsonNode json(String path) {
        return JSON.readTree(new String(resource(path), java.nio.charset.StandardCharsets.UTF_8));
    }

    /** The files of a resource directory by name, sorted. */
    static Map<String, byte[]> resourceDir(String dir) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(resourcePath(dir))) {
            for (Path p : files.sorted().toList()) {
                out.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return out;
    }

    /** A deflated zip of {@code files}, each name prefixed by {@code folder} (may be empty). */
    static byte[] zip(Map<String, byte[]> files, String folder) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (Map.Entry<String, byte[]> e : files.entrySet()) {
                zip.putNextEntry(new ZipEntry(folder + e.getKey()));
                zip.write(e.getValue());
                zip.closeEntry();
            }
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return bytes.toByteArray();
    }

    static byte[] zip(Map<String, byte[]> files) {
        return zip(files, "");
    }

    /** The pyreft save directory of reference bundle A, B or D, zipped. */
    static byte[] pyreftZip(String bundle, String folder) {
        return zip(resourceDir("reference/bundles/" + bundle + "/pyreft"), folder);
    }

    /**
     * A strong LoReFT edit (rank 4, seed 5) of a model of {@code hidden} x {@code layers} at {@code positions}, one
     * intervention at each of {@code at}, imported and loaded as a served bundle.
     */
    static LoadedBundle loreft(NDManager manager, int hidden, int layers, String positions, int... at) {
        Random rnd = new Random(5);
        int r = 4;
        FloatTensor rotate = PyreftDirs.toTensor(PyreftDirs.orthonormalColumns(rnd, hidden, r));
        FloatTensor weight = FloatTensor.of(PyreftDirs.gaussian(rnd, r * hidden, 2.0), r, hidden);
        FloatTensor bias = FloatTensor.of(PyreftDirs.gaussian(rnd, r, 4.0), r);
        List<Intervention> interventions = new ArrayList<>();
        for (int layer : at) {
            interventions.add(new LoreftIntervention(layer, ApplyTo.ALL, Activation.LINEAR, rotate, weight, bias));
        }
        ReftBundle bundle = new ReftBundle(hidden, layers, PositionSpec.parse(positions), false, interventions);
        ModelShape shape = new ModelShape(hidden, layers);
        ImportedBundle imported = new BundleImporter(BundleLimits.defaults())
                .importZip(NativeBundleFormat.write(bundle), shape, null, null);
        return LoadedBundle.load(imported.nativeZip(), shape, BundleLimits.defaults(), manager);
    }
}

package dev.reftserver.model;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.checkpoint.Safetensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test access to the reference outputs copied into src/test/resources/reference (see its README). */
public final class ReferenceFiles {

    public static final Path STORIES15M = Path.of("models/stories15M/stories15M.bin");

    private ReferenceFiles() {
    }

    public static Path resource(String relative) {
        try {
            var url = ReferenceFiles.class.getClassLoader().getResource(relative);
            if (url == null) {
                throw new IllegalStateException("missing test resource " + relative);
            }
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static JsonObject json(String relative) {
        try {
            return JsonParser.parseString(Files.readString(resource(relative))).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Safetensors tensors(String relative) {
        return Safetensors.open(resource(relative));
    }

    /** The default model, fetched by scripts/fetch-model.sh; tests fail (not skip) without it. */
    public static Path stories15m() {
        if (!Files.isRegularFile(STORIES15M)) {
            throw new IllegalStateException(STORIES15M + " is missing: run scripts/fetch-model.sh first");
        }
        return STORIES15M;
    }

    /** {@code length} token ids of a 32,000-token vocabulary: BOS (1), then ids in [3, 31993) drawn from {@code seed}. */
    public static int[] randomIds(long seed, int length) {
        java.util.Random rnd = new java.util.Random(seed);
        int[] ids = new int[length];
        ids[0] = 1;
        for (int i = 1; i < length; i++) {
            ids[i] = 3 + rnd.nextInt(31_990);
        }
        return ids;
    }

    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    public static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("length " + a.length + " != " + b.length);
        }
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}

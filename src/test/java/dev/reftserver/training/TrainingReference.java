package dev.reftserver.training;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.checkpoint.Safetensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/** The LoReFT training reference (reference/training/loreft-l1, see src/test/resources/README.md). */
final class TrainingReference {

    static final String DIR = "reference/training/loreft-l1/";

    final JsonObject json = ReferenceFiles.json(DIR + "reference.json");

    /** The protocol: lr 4e-3 linear to 0 over 30 updates, no warmup, wd 0, clip 1.0, one batch of all 8. */
    static TrainingSettings settings() {
        return new TrainingSettings(4e-3, 0.0, 30, 0, 1.0, 8, false, 0);
    }

    static byte[] bytes(String relative) {
        try {
            return Files.readAllBytes(ReferenceFiles.resource(DIR + relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** (prompt, completion) pairs of data.jsonl. */
    static List<String[]> data() {
        List<String[]> out = new ArrayList<>();
        for (String line : new String(bytes("data.jsonl"), java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
            if (!line.isBlank()) {
                JsonObject o = com.google.gson.JsonParser.parseString(line).getAsJsonObject();
                out.add(new String[] {o.get("prompt").getAsString(), o.get("completion").getAsString()});
            }
        }
        return out;
    }

    static Safetensors weights(int step) {
        return ReferenceFiles.tensors(DIR + String.format("weights/step_%03d.safetensors", step));
    }

    double loss(int step) {
        return json.getAsJsonObject("training").getAsJsonArray("losses").get(step).getAsDouble();
    }

    double gradNorm(int step) {
        return json.getAsJsonObject("training").getAsJsonArray("grad_norm_before_clip").get(step).getAsDouble();
    }

    JsonArray examples() {
        return json.getAsJsonArray("examples");
    }

    JsonArray generations() {
        return json.getAsJsonArray("generations");
    }

    static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }

    static float maxAbs(float[] a) {
        float m = 0;
        for (float x : a) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }
}

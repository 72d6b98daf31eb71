package dev.reftserver.model;

import static dev.reftserver.model.ReferenceFiles.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.model.checkpoint.TensorData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints of any size: a single safetensors file over 2 GiB and a sharded directory, written at test time from
 * the tiny Mistral reference model and loaded to the same logits. The big file is sparse: a 2.25 GB tensor the model
 * never reads comes first (a hole on disk), and every real tensor lies past 2 GiB.
 */
class LargeCheckpointTest {

    private static final String TINY = "reference/tiny/mistral";
    private static final long PADDING_FLOATS = 562_500_000L;

    @TempDir
    Path tmp;

    @Test
    void loadsASingleFileLargerThanTwoGibibytes() throws IOException {
        Path dir = copyConfig(tmp.resolve("big"));
        List<TensorData> tensors = tinyTensors();
        Path file = dir.resolve("model.safetensors");
        write(file, PADDING_FLOATS, tensors);
        assertThat(Files.size(file)).isGreaterThan(1L << 31);
        assertMatchesReference(dir);
    }

    @Test
    void loadsAShardedDirectoryThroughItsIndex() throws IOException {
        Path dir = copyConfig(tmp.resolve("sharded"));
        List<TensorData> tensors = tinyTensors();
        int half = tensors.size() / 2;
        JsonObject weightMap = new JsonObject();
        List<List<TensorData>> shards = List.of(tensors.subList(0, half), tensors.subList(half, tensors.size()));
        for (int s = 0; s < 2; s++) {
            String name = "model-0000" + (s + 1) + "-of-00002.safetensors";
            write(dir.resolve(name), 0, shards.get(s));
            shards.get(s).forEach(t -> weightMap.addProperty(t.name(), name));
        }
        JsonObject index = new JsonObject();
        index.add("metadata", new JsonObject());
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
        assertMatchesReference(dir);
    }

    /** A tensor longer than one map window is read across windows to the same values. */
    @Test
    void readsATensorAcrossMapWindows() throws IOException {
        float[] values = new float[1000];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.25f - 7;
        }
        Path file = tmp.resolve("windows.safetensors");
        write(file, 3, List.of(new TensorData("x", new long[] {1000}, values)));
        assertThat(Safetensors.open(file, 64).read("x").data()).containsExactly(values);
    }

    private void assertMatchesReference(Path dir) {
        JsonObject ref = ReferenceFiles.json(TINY + "/reference.json");
        Safetensors logitsRef = ReferenceFiles.tensors(TINY + "/reference_logits.safetensors");
        try (TransformerLM model = ModelLoader.load(dir, "cpu", "float32", 1);
                NDManager step = NDManager.newBaseManager()) {
            JsonObject in = ref.getAsJsonArray("inputs").get(0).getAsJsonObject();
            int[] ids = BaseModelReferenceTest.ints(in.getAsJsonArray("input_ids"));
            float[] all = model.logitsAllPositions(step, ids).toFloatArray();
            assertThat(maxAbsDiff(all, logitsRef.read(in.get("name").getAsString() + ".logits").data()))
                    .isLessThanOrEqualTo(1e-4f);
        }
    }

    private static List<TensorData> tinyTensors() {
        Safetensors st = ReferenceFiles.tensors(TINY + "/model.safetensors");
        List<TensorData> out = new ArrayList<>();
        for (String n : st.names()) {
            out.add(st.read(n));
        }
        return out;
    }

    private static Path copyConfig(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.copy(ReferenceFiles.resource(TINY + "/config.json"), dir.resolve("config.json"));
        return dir;
    }

    /**
     * A safetensors file with an F32 tensor {@code padding} of {@code paddingFloats} zeros first (never written:
     * the file has a hole there), then {@code tensors}.
     */
    private static void write(Path file, long paddingFloats, List<TensorData> tensors) throws IOException {
        JsonObject header = new JsonObject();
        long offset = 0;
        if (paddingFloats > 0) {
            header.add("padding", entry(new long[] {paddingFloats}, 0, 4 * paddingFloats));
            offset = 4 * paddingFloats;
        }
        List<Long> starts = new ArrayList<>();
        for (TensorData t : tensors) {
            starts.add(offset);
            header.add(t.name(), entry(t.shape(), offset, offset + 4L * t.data().length));
            offset += 4L * t.data().length;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        long dataStart = 8 + json.length;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, json.length), 0);
            ch.write(ByteBuffer.wrap(json), 8);
            for (int i = 0; i < tensors.size(); i++) {
                float[] v = tensors.get(i).data();
                ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(v);
                ch.write(b, dataStart + starts.get(i));
            }
        }
    }

    private static JsonObject entry(long[] shape, long begin, long end) {
        JsonObject e = new JsonObject();
        e.addProperty("dtype", "F32");
        JsonArray s = new JsonArray();
        for (long d : shape) {
            s.add(d);
        }
        e.add("shape", s);
        JsonArray off = new JsonArray();
        off.add(begin);
        off.add(end);
        e.add("data_offsets", off);
        return e;
    }
}

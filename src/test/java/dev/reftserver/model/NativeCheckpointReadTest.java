package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.Safetensors;
import dev.reftserver.model.checkpoint.StoredTensor;
import dev.reftserver.model.ops.NativeOps;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensors read natively (straight into libtorch memory, BF16 and F16 widened by libtorch) hold bit for bit the
 * values the Java reader gives, from a file, across read windows, and from bytes held in memory.
 */
class NativeCheckpointReadTest {

    @TempDir
    Path tmp;

    /** Bit patterns with the edge cases of each format: zeros of both signs, subnormals, the largest, infinities. */
    private static final short[] BF16 = {0x0000, (short) 0x8000, 0x0001, (short) 0x807f, 0x3f80, (short) 0xbfc0,
        0x7f7f, (short) 0xff7f, 0x7f80, (short) 0xff80, 0x4049, 0x3c23};
    private static final short[] F16 = {0x0000, (short) 0x8000, 0x0001, (short) 0x83ff, 0x3c00, (short) 0xbe00,
        0x7bff, (short) 0xfbff, 0x7c00, (short) 0xfc00, 0x4248, 0x2e66};
    private static final float[] F32 = {0f, -0f, Float.MIN_VALUE, -1e-40f, 1f, -1.5f, Float.MAX_VALUE,
        -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 3.14159f, 0.01f};

    private static byte[] file() {
        Map<String, Object[]> tensors = new LinkedHashMap<>();
        ByteBuffer bf = ByteBuffer.allocate(2 * BF16.length).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : BF16) {
            bf.putShort(s);
        }
        ByteBuffer half = ByteBuffer.allocate(2 * F16.length).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : F16) {
            half.putShort(s);
        }
        ByteBuffer f = ByteBuffer.allocate(4 * F32.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : F32) {
            f.putFloat(v);
        }
        tensors.put("bf16", new Object[] {"BF16", bf.array()});
        tensors.put("f16", new Object[] {"F16", half.array()});
        tensors.put("f32", new Object[] {"F32", f.array()});
        JsonObject header = new JsonObject();
        long offset = 0;
        for (var e : tensors.entrySet()) {
            byte[] data = (byte[]) e.getValue()[1];
            JsonObject t = new JsonObject();
            t.addProperty("dtype", (String) e.getValue()[0]);
            JsonArray shape = new JsonArray();
            shape.add(3);
            shape.add(4);
            t.add("shape", shape);
            JsonArray off = new JsonArray();
            off.add(offset);
            offset += data.length;
            off.add(offset);
            t.add("data_offsets", off);
            header.add(e.getKey(), t);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate((int) (8 + json.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json);
        for (Object[] t : tensors.values()) {
            out.put((byte[]) t[1]);
        }
        return out.array();
    }

    private static int[] bits(float[] values) {
        int[] b = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = Float.floatToRawIntBits(values[i]);
        }
        return b;
    }

    private static void assertNativeEqualsJava(Safetensors st) {
        try (NDManager m = NDManager.newBaseManager()) {
            for (String name : new String[] {"bf16", "f16", "f32"}) {
                int[] java = bits(st.read(name).data());
                assertThat(bits(st.readNative(name, m).toFloatArray())).as(name).containsExactly(java);
                try (StoredTensor stored = st.readStored(name, m)) {
                    assertThat(bits(stored.toFloat32().toFloatArray())).as(name + " stored").containsExactly(java);
                }
            }
        }
    }

    @Test
    void readsEachDtypeFromAFileToTheJavaReadersBits() throws IOException {
        Path file = tmp.resolve("dtypes.safetensors");
        Files.write(file, file());
        assertNativeEqualsJava(Safetensors.open(file));
        // The values the formats define, as numbers (the Java reader is the reference above; this pins it).
        assertThat(Safetensors.open(file).read("bf16").data()[4]).isEqualTo(1f);
        assertThat(Safetensors.open(file).read("f16").data()[5]).isEqualTo(-1.5f);
    }

    @Test
    void readsATensorLargerThanOneWindowInPieces() throws IOException {
        Path file = tmp.resolve("windows.safetensors");
        Files.write(file, file());
        // 6 bytes: three 2-byte elements (or one float32) per window, so every tensor spans several
        assertNativeEqualsJava(Safetensors.open(file, 6));
    }

    @Test
    void readsSafetensorsHeldInMemory() {
        assertNativeEqualsJava(Safetensors.of(file(), "in memory"));
    }

    @Test
    void mapsBfloat16TensorsOfAFileWithinOneWindowOnly() throws IOException {
        Path file = tmp.resolve("dtypes.safetensors");
        Files.write(file, file());
        Safetensors st = Safetensors.open(file);
        ByteBuffer mapped = st.mappedBfloat16("bf16");
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            // the map viewed as a bfloat16 tensor, widened: the Java reader's bits
            long view = op.bfloat16View(mapped, 3, 4);
            assertThat(bits(op.keep(op.float32(view), m).toFloatArray()))
                    .containsExactly(bits(st.read("bf16").data()));
            assertThatThrownBy(() -> op.bfloat16View(mapped, 4, 4)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(st.mappedBfloat16("f16")).isNull();
        assertThat(st.mappedBfloat16("f32")).isNull();
        assertThat(Safetensors.open(file, 6).mappedBfloat16("bf16")).as("larger than a window").isNull();
        assertThat(Safetensors.of(file(), "in memory").mappedBfloat16("bf16")).isNull();
    }

    @Test
    void storesBfloat16AsBfloat16() throws IOException {
        Path file = tmp.resolve("dtypes.safetensors");
        Files.write(file, file());
        try (NDManager m = NDManager.newBaseManager();
                StoredTensor bf = Safetensors.open(file).readStored("bf16", m);
                StoredTensor f32 = Safetensors.open(file).readStored("f32", m)) {
            assertThat(bf.dtype()).isEqualTo("BF16");
            assertThat(bf.isBfloat16()).isTrue();
            assertThat(f32.dtype()).isEqualTo("F32");
            assertThat(f32.array().getShape().getShape()).containsExactly(3, 4);
        }
    }
}

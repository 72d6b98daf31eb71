package dev.reftserver.model.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.function.Predicate;

/** Safetensors files written for tests: float32 tensors, some stored as BF16 where a test asks. */
public final class SafetensorsFiles {

    private SafetensorsFiles() {
    }

    /** The tensors as a safetensors file of F32 tensors (names in iteration order). */
    public static byte[] writeF32(Collection<TensorData> tensors) {
        return write(tensors, name -> false);
    }

    /**
     * The tensors as a safetensors file (names in iteration order), those {@code bfloat16} names stored as BF16
     * (rounded to nearest even), the others as F32.
     */
    public static byte[] write(Collection<TensorData> tensors, Predicate<String> bfloat16) {
        JsonObject header = new JsonObject();
        long offset = 0;
        for (TensorData t : tensors) {
            JsonObject e = new JsonObject();
            e.addProperty("dtype", bfloat16.test(t.name()) ? "BF16" : "F32");
            JsonArray shape = new JsonArray();
            for (long d : t.shape()) {
                shape.add(d);
            }
            e.add("shape", shape);
            JsonArray off = new JsonArray();
            off.add(offset);
            offset += (bfloat16.test(t.name()) ? 2L : 4L) * t.data().length;
            off.add(offset);
            e.add("data_offsets", off);
            header.add(t.name(), e);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - json.length % 8) % 8;
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + json.length + pad + offset))
                .order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length + pad).put(json);
        for (int i = 0; i < pad; i++) {
            out.put((byte) ' ');
        }
        for (TensorData t : tensors) {
            boolean half = bfloat16.test(t.name());
            for (float v : t.data()) {
                if (half) {
                    int bits = Float.floatToRawIntBits(v);
                    out.putShort((short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
                } else {
                    out.putFloat(v);
                }
            }
        }
        return out.array();
    }
}

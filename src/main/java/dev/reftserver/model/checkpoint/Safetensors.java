package dev.reftserver.model.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A memory-mapped {@code .safetensors} file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw data. F32, F16 and BF16 are read into fp32 (BF16 widened in
 * Java: DJL's PyTorch engine cannot hold BF16 arrays).
 */
public final class Safetensors {

    private record Entry(String dtype, long[] shape, long begin, long end) {
    }

    private final Path path;
    private final ByteBuffer data;
    private final Map<String, Entry> entries;

    private Safetensors(Path path, ByteBuffer data, Map<String, Entry> entries) {
        this.path = path;
        this.data = data;
        this.entries = entries;
    }

    public static Safetensors open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            return parse(path, map, path.toString());
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** Parses safetensors bytes held in memory; {@code where} names them in error messages. */
    public static Safetensors of(byte[] bytes, String where) {
        return parse(null, ByteBuffer.wrap(bytes), where);
    }

    private static Safetensors parse(Path path, ByteBuffer buf, String where) {
        buf.order(ByteOrder.LITTLE_ENDIAN);
        long size = buf.capacity();
        if (size < 8) {
            throw new CheckpointException(where + ": too short to be a safetensors file (" + size + " bytes)");
        }
        long headerLen = buf.getLong(0);
        if (headerLen <= 0 || headerLen > size - 8 || headerLen > 100_000_000L) {
            throw new CheckpointException(where + ": invalid safetensors header length " + headerLen
                    + " (file has " + size + " bytes; truncated or not safetensors)");
        }
        byte[] header = new byte[(int) headerLen];
        buf.get(8, header);
        JsonObject json;
        try {
            json = JsonParser.parseString(new String(header, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new CheckpointException(where + ": safetensors header is not valid JSON", e);
        }
        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : json.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            try {
                JsonObject t = e.getValue().getAsJsonObject();
                String dtype = t.get("dtype").getAsString();
                var shapeJson = t.getAsJsonArray("shape");
                long[] shape = new long[shapeJson.size()];
                long count = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shapeJson.get(i).getAsLong();
                    count *= shape[i];
                }
                var off = t.getAsJsonArray("data_offsets");
                long begin = off.get(0).getAsLong();
                long end = off.get(1).getAsLong();
                if (begin < 0 || end < begin || end > dataLen) {
                    throw new CheckpointException(where + ": tensor '" + e.getKey() + "' lies outside the file "
                            + "(offsets " + begin + ".." + end + ", data has " + dataLen + " bytes; truncated?)");
                }
                int width = switch (dtype) {
                    case "F32", "I32" -> 4;
                    case "F16", "BF16", "I16" -> 2;
                    case "F64", "I64" -> 8;
                    default -> 1;
                };
                if (end - begin != count * width) {
                    throw new CheckpointException(where + ": tensor '" + e.getKey() + "' holds " + (end - begin)
                            + " bytes, but " + dtype + java.util.Arrays.toString(shape) + " needs " + count * width);
                }
                entries.put(e.getKey(), new Entry(dtype, shape, dataStart + begin, dataStart + end));
            } catch (CheckpointException ce) {
                throw ce;
            } catch (RuntimeException re) {
                throw new CheckpointException(where + ": malformed header entry for '" + e.getKey() + "'", re);
            }
        }
        return new Safetensors(path, buf, entries);
    }

    public Set<String> names() {
        return entries.keySet();
    }

    public boolean has(String name) {
        return entries.containsKey(name);
    }

    public long[] shape(String name) {
        return entry(name).shape.clone();
    }

    public String dtype(String name) {
        return entry(name).dtype;
    }

    /** Reads a tensor as fp32. */
    public TensorData read(String name) {
        Entry e = entry(name);
        int n = (int) ((e.end - e.begin) / switch (e.dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new CheckpointException(where() + ": tensor '" + name + "' has dtype " + e.dtype
                    + "; only F32, F16 and BF16 are supported");
        });
        float[] out = new float[n];
        ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position((int) e.begin);
        switch (e.dtype) {
            case "F32" -> b.asFloatBuffer().get(out, 0, n);
            case "F16" -> {
                for (int i = 0; i < n; i++) {
                    out[i] = halfToFloat(b.getShort());
                }
            }
            default -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                }
            }
        }
        return new TensorData(name, e.shape.clone(), out);
    }

    /** Writes fp32 tensors as a safetensors file (names in iteration order). */
    public static byte[] writeF32(java.util.Collection<TensorData> tensors) {
        JsonObject header = new JsonObject();
        long offset = 0;
        for (TensorData t : tensors) {
            JsonObject e = new JsonObject();
            e.addProperty("dtype", "F32");
            var shape = new com.google.gson.JsonArray();
            for (long d : t.shape()) {
                shape.add(d);
            }
            e.add("shape", shape);
            var off = new com.google.gson.JsonArray();
            off.add(offset);
            offset += 4L * t.data().length;
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
            out.asFloatBuffer().put(t.data());
            out.position(out.position() + 4 * t.data().length);
        }
        return out.array();
    }

    /** IEEE 754 binary16 to fp32 (Java 17 has no Float.float16ToFloat). */
    public static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            // subnormal half: value = mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new CheckpointException(where() + ": tensor '" + name + "' is missing");
        }
        return e;
    }

    private String where() {
        return path == null ? "safetensors" : path.toString();
    }
}

package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.reftserver.model.NativeOps;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A {@code .safetensors} file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw data. Opening reads only the header; each tensor is read when asked for, from
 * a memory map of its own bytes (in windows of at most {@link #WINDOW} bytes, so files and tensors of any size
 * load). F32, F16 and BF16 are read into fp32, either as a Java array ({@link #read}, for small models and tools)
 * or as a native array made straight from the mapped bytes ({@link #readNative}, how large models load: no copy
 * on the Java heap, the widening done by libtorch).
 */
public final class Safetensors {

    /** The largest range mapped at once: a MappedByteBuffer holds at most Integer.MAX_VALUE bytes. */
    static final int WINDOW = 1 << 30;

    private record Entry(String dtype, long[] shape, long begin, long end) {
    }

    private final Path path;
    /** The most bytes mapped at once. */
    private final int window;
    /** The whole file when it was given in memory; null for a file read through maps. */
    private final ByteBuffer bytes;
    private final Map<String, Entry> entries;

    private Safetensors(Path path, int window, ByteBuffer bytes, Map<String, Entry> entries) {
        this.path = path;
        this.window = window;
        this.bytes = bytes;
        this.entries = entries;
    }

    public static Safetensors open(Path path) {
        return open(path, WINDOW);
    }

    /** As {@link #open(Path)}, mapping at most {@code window} bytes at a time. */
    public static Safetensors open(Path path, int window) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(lengthBytes, 0);
            long headerLen = size < 8 ? -1 : lengthBytes.getLong(0);
            byte[] header = checkedHeader(size, headerLen, path.toString());
            ch.read(ByteBuffer.wrap(header), 8);
            return new Safetensors(path, window, null, parseHeader(header, size, path.toString()));
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** Parses safetensors bytes held in memory; {@code where} names them in error messages. */
    public static Safetensors of(byte[] bytes, String where) {
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen = bytes.length < 8 ? -1 : buf.getLong(0);
        byte[] header = checkedHeader(bytes.length, headerLen, where);
        buf.get(8, header);
        return new Safetensors(null, WINDOW, buf, parseHeader(header, bytes.length, where));
    }

    private static byte[] checkedHeader(long size, long headerLen, String where) {
        if (size < 8) {
            throw new CheckpointException(where + ": too short to be a safetensors file (" + size + " bytes)");
        }
        if (headerLen <= 0 || headerLen > size - 8 || headerLen > 100_000_000L) {
            throw new CheckpointException(where + ": invalid safetensors header length " + headerLen
                    + " (file has " + size + " bytes; truncated or not safetensors)");
        }
        return new byte[(int) headerLen];
    }

    private static Map<String, Entry> parseHeader(byte[] header, long size, String where) {
        long headerLen = header.length;
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
        return entries;
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

    /** Reads a tensor as fp32 (from maps of its bytes only, dropped once read). */
    public TensorData read(String name) {
        Entry e = entry(name);
        int width = width(name, e);
        long count = (e.end - e.begin) / width;
        if (count > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(where() + ": tensor '" + name + "' has " + count
                    + " elements, more than one Java array holds");
        }
        float[] out = new float[(int) count];
        int done = 0;
        try (FileChannel ch = path == null ? null : FileChannel.open(path, StandardOpenOption.READ)) {
            // Whole elements per window, so no value straddles two maps.
            long windowElements = Math.max(1, window / width);
            for (long at = e.begin; at < e.end; at += windowElements * width) {
                int len = (int) Math.min(windowElements * width, e.end - at);
                ByteBuffer b = window(ch, at, len);
                int n = len / width;
                switch (e.dtype) {
                    case "F32" -> b.asFloatBuffer().get(out, done, n);
                    case "F16" -> {
                        for (int i = 0; i < n; i++) {
                            out[done + i] = halfToFloat(b.getShort());
                        }
                    }
                    default -> {
                        for (int i = 0; i < n; i++) {
                            out[done + i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                        }
                    }
                }
                done += n;
            }
        } catch (IOException ex) {
            throw new CheckpointException("cannot read " + path + ": " + ex.getMessage(), ex);
        }
        return new TensorData(name, e.shape.clone(), out);
    }

    /**
     * Reads a tensor as a new float32 array of {@code manager} (a CPU manager), made from maps of the file's bytes
     * on the native side: F32 copied, F16 and BF16 widened by libtorch (the same exact widening as {@link #read}).
     * The array owns its memory; the maps are not used after this returns. A tensor larger than one map window is
     * read in windows of whole elements and joined.
     */
    public NDArray readNative(String name, NDManager manager) {
        Entry e = entry(name);
        int width = width(name, e);
        long count = (e.end - e.begin) / width;
        if (count > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(where() + ": tensor '" + name + "' has " + count
                    + " elements, more than one native array is made from here");
        }
        Shape shape = new Shape(e.shape);
        try (FileChannel ch = path == null ? null : FileChannel.open(path, StandardOpenOption.READ)) {
            long windowElements = Math.max(1, window / width);
            if (count <= windowElements) {
                return nativeWindow(ch, e, e.begin, count, shape, manager);
            }
            try (NDManager parts = manager.newSubManager()) {
                NDList pieces = new NDList();
                for (long at = e.begin; at < e.end; at += windowElements * width) {
                    long n = Math.min(windowElements, (e.end - at) / width);
                    pieces.add(nativeWindow(ch, e, at, n, new Shape(n), parts));
                }
                NDArray joined = ai.djl.ndarray.NDArrays.concat(pieces).reshape(shape);
                joined.attach(manager);
                return joined;
            }
        } catch (IOException ex) {
            throw new CheckpointException("cannot read " + path + ": " + ex.getMessage(), ex);
        }
    }

    /** {@code n} elements from byte {@code at} as a new float32 array of {@code shape}. */
    private NDArray nativeWindow(FileChannel ch, Entry e, long at, long n, Shape shape, NDManager manager)
            throws IOException {
        int len = Math.toIntExact(n * (e.dtype.equals("F32") ? 4 : 2));
        ByteBuffer b = window(ch, at, len);
        if (!b.isDirect()) {
            // bytes held on the heap (safetensors given in memory): the native side needs an address
            b = ByteBuffer.allocateDirect(len).order(ByteOrder.LITTLE_ENDIAN).put(b).flip();
        }
        // The arrays made on the buffer share its memory; each result below is a new array, and the sharing ones
        // are closed before the buffer can be unmapped.
        try (NDManager view = manager.newSubManager()) {
            NDArray out = switch (e.dtype) {
                case "F32" -> view.create(b, shape, DataType.FLOAT32).duplicate();
                case "F16" -> view.create(b, shape, DataType.FLOAT16).toType(DataType.FLOAT32, true);
                default -> {
                    // Made as float16 (the same two bytes) only to have a tensor of the shape on that buffer.
                    NDArray shaped = view.create(b, shape, DataType.FLOAT16);
                    try (NativeOps op = new NativeOps()) {
                        yield op.keep(op.float32FromBfloat16(b, NativeOps.handle(shaped)), view);
                    }
                }
            };
            out.attach(manager);
            return out;
        }
    }

    private int width(String name, Entry e) {
        return switch (e.dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new CheckpointException(where() + ": tensor '" + name + "' has dtype " + e.dtype
                    + "; only F32, F16 and BF16 are supported");
        };
    }

    /** Bytes [at, at + len) of the file, little-endian, positioned at 0. */
    private ByteBuffer window(FileChannel ch, long at, int len) throws IOException {
        ByteBuffer b = ch == null ? bytes.duplicate().position((int) at).limit((int) at + len).slice()
                : ch.map(FileChannel.MapMode.READ_ONLY, at, len);
        return b.order(ByteOrder.LITTLE_ENDIAN);
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

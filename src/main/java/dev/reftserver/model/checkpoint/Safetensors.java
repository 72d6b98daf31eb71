package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import com.google.gson.JsonObject;
import dev.reftserver.model.ops.NativeOps;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Set;
import dev.reftserver.model.checkpoint.SafetensorsHeader.Entry;

/**
 * A {@code .safetensors} file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the raw data. Opening reads only the header; each tensor is read when asked for, from
 * a memory map of its own bytes (in windows of at most {@link #WINDOW} bytes, so files and tensors of any size
 * load). F32, F16 and BF16 are read into fp32, either as a Java array ({@link #read}, for small models and tools)
 * or as a native array the file's bytes are read straight into ({@link #readNative}, how large models load: no
 * copy on the Java heap, the widening done by libtorch).
 */
public final class Safetensors {

    /** The largest range mapped at once: a MappedByteBuffer holds at most Integer.MAX_VALUE bytes. */
    static final int WINDOW = 1 << 30;

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
            byte[] header = SafetensorsHeader.checked(size, headerLen, path.toString());
            ch.read(ByteBuffer.wrap(header), 8);
            return new Safetensors(path, window, null, SafetensorsHeader.parse(header, size, path.toString()));
        } catch (IOException e) {
            throw CheckpointException.unreadable(path, e);
        }
    }

    /** Parses safetensors bytes held in memory; {@code where} names them in error messages. */
    public static Safetensors of(byte[] bytes, String where) {
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen = bytes.length < 8 ? -1 : buf.getLong(0);
        byte[] header = SafetensorsHeader.checked(bytes.length, headerLen, where);
        buf.get(8, header);
        return new Safetensors(null, WINDOW, buf, SafetensorsHeader.parse(header, bytes.length, where));
    }

    public Set<String> names() {
        return entries.keySet();
    }

    public boolean has(String name) {
        return entries.containsKey(name);
    }

    public long[] shape(String name) {
        return entry(name).shape().clone();
    }

    public String dtype(String name) {
        return entry(name).dtype();
    }

    /** Reads a tensor as fp32 (from maps of its bytes only, dropped once read). */
    public TensorData read(String name) {
        Entry e = entry(name);
        int width = width(name, e);
        long count = (e.end() - e.begin()) / width;
        if (count > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(where() + ": tensor '" + name + "' has " + count
                    + " elements, more than one Java array holds");
        }
        float[] out = new float[(int) count];
        int done = 0;
        try (FileChannel ch = path == null ? null : FileChannel.open(path, StandardOpenOption.READ)) {
            // Whole elements per window, so no value straddles two maps.
            long windowElements = Math.max(1, window / width);
            for (long at = e.begin(); at < e.end(); at += windowElements * width) {
                int len = (int) Math.min(windowElements * width, e.end() - at);
                ByteBuffer b = window(ch, at, len);
                int n = len / width;
                switch (e.dtype()) {
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
            throw CheckpointException.unreadable(path, ex);
        }
        return new TensorData(name, e.shape().clone(), out);
    }

    /**
     * Reads a tensor as a new float32 array of {@code manager} (a CPU manager): the file's bytes are read into
     * native memory (no map, no Java array), F16 and BF16 then widened by libtorch (the same exact widening as
     * {@link #read}). A tensor larger than one window is read in windows of whole elements and joined.
     */
    public NDArray readNative(String name, NDManager manager) {
        Entry e = entry(name);
        int width = width(name, e);
        long count = (e.end() - e.begin()) / width;
        long windowElements = Math.max(1, window / width);
        if (count <= windowElements) {
            return readStored(name, manager).toFloat32();
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(where() + ": tensor '" + name + "' has " + count
                    + " elements, more than one native array is made from here");
        }
        try (FileChannel ch = channel(); NDManager parts = manager.newSubManager()) {
            NDList pieces = new NDList();
            for (long at = e.begin(); at < e.end(); at += windowElements * width) {
                long n = Math.min(windowElements, (e.end() - at) / width);
                pieces.add(stored(ch, e, at, new Shape(n), parts).toFloat32());
            }
            NDArray joined = ai.djl.ndarray.NDArrays.concat(pieces).reshape(new Shape(e.shape()));
            joined.attach(manager);
            return joined;
        } catch (IOException ex) {
            throw CheckpointException.unreadable(path, ex);
        }
    }

    /**
     * Reads a tensor into native memory of {@code manager} (a CPU manager) as the file stores it (F32, F16 or BF16,
     * see {@link StoredTensor}); one larger than a window is read as float32 ({@link #readNative}).
     */
    public StoredTensor readStored(String name, NDManager manager) {
        Entry e = entry(name);
        int width = width(name, e);
        if ((e.end() - e.begin()) / width > Math.max(1, window / width)) {
            NDArray f = readNative(name, manager);
            return new StoredTensor(f, "F32", f);
        }
        try (FileChannel ch = channel()) {
            return stored(ch, e, e.begin(), new Shape(e.shape()), manager);
        } catch (IOException ex) {
            throw CheckpointException.unreadable(path, ex);
        }
    }

    /**
     * A BF16 tensor's bytes as one read-only memory map of the file, or null where it is not BF16, not in a file or
     * larger than one window. The map lasts while it is reachable; a tensor viewing it must not outlive it.
     */
    public ByteBuffer mappedBfloat16(String name) {
        Entry e = entry(name);
        if (path == null || !e.dtype().equals("BF16") || e.end() - e.begin() > window || e.end() == e.begin()) {
            return null;
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, e.begin(), e.end() - e.begin())
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw CheckpointException.unreadable(path, ex);
        }
    }

    /** A matrix's rows as stored, read through maps of at most one window each (see {@link StoredRows}). */
    public StoredRows rows(String name) {
        Entry e = entry(name);
        width(name, e);
        if (e.shape().length != 2) {
            throw new CheckpointException(where() + ": tensor '" + name + "' is not a matrix");
        }
        return StoredRows.mapped(path, bytes, e.dtype(), e.begin(), e.shape()[0], e.shape()[1], window);
    }

    private FileChannel channel() throws IOException {
        return path == null ? null : FileChannel.open(path, StandardOpenOption.READ);
    }

    /**
     * The elements of {@code shape} from byte {@code at}, read straight into an uninitialised native array (a
     * float16 one for BF16: only the two bytes per element matter until they are viewed as bfloat16).
     */
    private StoredTensor stored(FileChannel ch, Entry e, long at, Shape shape, NDManager manager)
            throws IOException {
        boolean f32 = e.dtype().equals("F32");
        if (shape.size() == 0) {
            NDArray empty = manager.zeros(shape, DataType.FLOAT32);
            return new StoredTensor(empty, "F32", empty);
        }
        NDArray raw = manager.create(shape, f32 ? DataType.FLOAT32 : DataType.FLOAT16);
        try {
            ByteBuffer dst = ((PtNDArray) raw).toByteBuffer(true);
            if (!dst.isDirect()) {
                throw new IllegalStateException("no direct buffer on a new native array");
            }
            int len = dst.remaining();
            if (ch == null) {
                dst.put(bytes.duplicate().position((int) at).limit((int) at + len));
            } else {
                while (dst.hasRemaining()) {
                    if (ch.read(dst, at + dst.position()) < 0) {
                        throw new CheckpointException(where() + ": unexpected end of file");
                    }
                }
            }
            dst.flip();
            if (!e.dtype().equals("BF16")) {
                return new StoredTensor(raw, e.dtype(), raw);
            }
            try (NativeOps op = new NativeOps()) {
                return new StoredTensor(op.keep(op.bfloat16View(dst, shape.getShape()), manager), "BF16", raw);
            }
        } catch (IOException | RuntimeException ex) {
            raw.close();
            throw ex;
        }
    }

    private int width(String name, Entry e) {
        return switch (e.dtype()) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw new CheckpointException(where() + ": tensor '" + name + "' has dtype " + e.dtype()
                    + "; only F32, F16 and BF16 are supported");
        };
    }

    /** Bytes [at, at + len) of the file, little-endian, positioned at 0. */
    private ByteBuffer window(FileChannel ch, long at, int len) throws IOException {
        ByteBuffer b = ch == null ? bytes.duplicate().position((int) at).limit((int) at + len).slice()
                : ch.map(FileChannel.MapMode.READ_ONLY, at, len);
        return b.order(ByteOrder.LITTLE_ENDIAN);
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

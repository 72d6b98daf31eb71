package dev.reftserver.intervention;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * {@code torch.save} of a state dict, written the way torch 2.x writes it, so that {@code torch.load} (with
 * {@code weights_only} too) and {@link TorchStateDict} both read it.
 *
 * <p>The pickle is protocol 2, opcode for opcode what CPython's pickler emits for torch's reducers: an
 * {@code OrderedDict} of {@code _rebuild_tensor_v2} calls on persistent ids
 * {@code ('storage', torch.XStorage, key, 'cpu', numel)}, memoized as the C pickler memoizes (each global, and the
 * constant strings {@code 'storage'}, {@code 'cpu'} and {@code 'version'} once; every other string, tuple and call
 * result fresh), with small ints in their shortest form and, for a module's default {@code state_dict()}, its
 * {@code _metadata} ({@code {module: {'version': 1}}}) set by BUILD. For fp32 state dicts the {@code data.pkl} is byte
 * for byte what torch writes. The zip holds STORED records under {@code <archive>/} in torch's order
 * ({@code data.pkl}, {@code .format_version}, {@code .storage_alignment}, {@code byteorder}, {@code data/<key>},
 * {@code version}, {@code .data/serialization_id}), each record's data at a 64-byte boundary (padded with torch's
 * {@code FB} extra field) so {@code torch.load(mmap=True)} can map it. Unlike torch, the serialization id is derived
 * from the content, so the same state dict always gives the same bytes.
 */
final class TorchSaveWriter {

    private static final int ALIGNMENT = 64;

    /**
     * A tensor view on a storage of {@code storage.length} values, held as fp32 (integer storages hold integers up
     * to 2^24 exactly, enough for the int64 buffers state dicts carry) and written in {@code type}.
     */
    record Stored(TorchStorageType type, float[] storage, long offset, int[] size, long[] stride) {

        static Stored contiguous(TorchStorageType type, float[] values, int... size) {
            long[] stride = new long[size.length];
            long st = 1;
            for (int i = size.length - 1; i >= 0; i--) {
                stride[i] = st;
                st *= size[i];
            }
            return new Stored(type, values, 0, size.clone(), stride);
        }

        static Stored of(FloatTensor t) {
            return contiguous(TorchStorageType.FLOAT, t.data(), t.shape());
        }

        /** A 0-dim int64 tensor, like pyvene's {@code embed_dim} buffer. */
        static Stored scalarLong(long v) {
            if (Math.abs(v) > (1 << 24)) {
                throw new IllegalArgumentException(v + " is not exact in fp32");
            }
            return new Stored(TorchStorageType.LONG, new float[] {v}, 0, new int[0], new long[0]);
        }
    }

    private TorchSaveWriter() {
    }

    /** A state dict without {@code _metadata}, as pyreft's LoReFT {@code state_dict()} returns it. */
    static byte[] save(String archive, Map<String, Stored> stateDict) {
        return save(archive, stateDict, List.of());
    }

    /**
     * @param modules the module paths ({@code ""} for the root) a default {@code state_dict()} records in
     *                {@code _metadata}, in its traversal order; empty for none
     */
    static byte[] save(String archive, Map<String, Stored> stateDict, List<String> modules) {
        byte[] pkl = pickle(stateDict, modules);
        List<byte[]> storages = stateDict.values().stream().map(TorchSaveWriter::storageBytes).toList();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            put(zip, bytes, archive + "/data.pkl", pkl);
            put(zip, bytes, archive + "/.format_version", ascii("1"));
            put(zip, bytes, archive + "/.storage_alignment", ascii(Integer.toString(ALIGNMENT)));
            put(zip, bytes, archive + "/byteorder", ascii("little"));
            for (int key = 0; key < storages.size(); key++) {
                put(zip, bytes, archive + "/data/" + key, storages.get(key));
            }
            put(zip, bytes, archive + "/version", ascii("3\n"));
            put(zip, bytes, archive + "/.data/serialization_id", serializationId(pkl, storages));
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return bytes.toByteArray();
    }

    static byte[] pickle(Map<String, Stored> stateDict) {
        return pickle(stateDict, List.of());
    }

    static byte[] pickle(Map<String, Stored> stateDict, List<String> modules) {
        MemoPickler p = new MemoPickler();
        p.raw.op(0x80).op(2);
        p.newOrderedDict();
        p.setItems(stateDict.size(), stateDict.entrySet().stream().<Runnable>map(e -> () -> {
            p.freshStr(e.getKey());
            p.tensor(e.getValue());
        }).toList());
        if (!modules.isEmpty()) {
            // OrderedDict.__reduce__ carries its __dict__ as state: {'_metadata': OrderedDict(...)}
            p.raw.op('}');
            p.memoize();
            p.freshStr("_metadata");
            p.newOrderedDict();
            p.setItems(modules.size(), modules.stream().<Runnable>map(m -> () -> {
                p.freshStr(m);
                p.raw.op('}');
                p.memoize();
                p.sharedStr("version");
                p.integer(1);
                p.raw.op('s');
            }).toList());
            p.raw.op('s');
            p.raw.op('b');
        }
        p.raw.op('.');
        return p.raw.bytes();
    }

    /** CPython's pickler state for one dump: the memo of objects pickled once and fetched after. */
    private static final class MemoPickler {
        final Pickle raw = new Pickle();
        private final Map<String, Integer> memo = new HashMap<>();
        private int next;
        private int storageKey;

        void memoize() {
            raw.put(next++);
        }

        /** One Python object pickled wherever it recurs: written and memoized the first time, BINGET after. */
        void shared(String id, Runnable write) {
            Integer at = memo.get(id);
            if (at != null) {
                raw.get(at);
                return;
            }
            write.run();
            memo.put(id, next);
            memoize();
        }

        void global(String module, String name) {
            shared("global " + module + "." + name, () -> raw.global(module, name));
        }

        void freshStr(String s) {
            raw.str(s);
            memoize();
        }

        void sharedStr(String s) {
            shared("str " + s, () -> raw.str(s));
        }

        /** save_long: BININT1, BININT2 or BININT. */
        void integer(long v) {
            if (v >= 0 && v <= 0xFF) {
                raw.op('K').op((int) v);
            } else if (v >= 0 && v <= 0xFFFF) {
                raw.op('M').op((int) (v & 0xFF)).op((int) (v >>> 8));
            } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
                raw.integer(v);
            } else {
                throw new IllegalArgumentException(v + " does not fit BININT");
            }
        }

        /** save_tuple of ints: EMPTY_TUPLE (not memoized), TUPLE1..3, or MARK ... TUPLE; then memoized. */
        void intTuple(long[] items) {
            if (items.length == 0) {
                raw.op(')');
                return;
            }
            if (items.length > 3) {
                raw.op('(');
            }
            for (long v : items) {
                integer(v);
            }
            raw.op(items.length > 3 ? 't' : 0x84 + items.length);
            memoize();
        }

        /** {@code OrderedDict()}: the reducer call, memoized. */
        void newOrderedDict() {
            global("collections", "OrderedDict");
            raw.op(')').op('R');
            memoize();
        }

        /** _batch_setitems: one pair is SETITEM, more are MARK ... SETITEMS (batches of 1000). */
        void setItems(int count, List<Runnable> pairs) {
            for (int start = 0; start < count; start += 1000) {
                int n = Math.min(1000, count - start);
                if (n > 1) {
                    raw.op('(');
                }
                for (int i = start; i < start + n; i++) {
                    pairs.get(i).run();
                }
                raw.op(n > 1 ? 'u' : 's');
            }
        }

        /** {@code torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}. */
        void tensor(Stored t) {
            global("torch._utils", "_rebuild_tensor_v2");
            raw.op('(');
            raw.op('(');
            sharedStr("storage");
            global("torch", t.type().className());
            freshStr(Integer.toString(storageKey++));
            sharedStr("cpu");
            integer(t.storage().length);
            raw.op('t');
            memoize();
            raw.op('Q');
            integer(t.offset());
            long[] size = new long[t.size().length];
            for (int i = 0; i < size.length; i++) {
                size[i] = t.size()[i];
            }
            intTuple(size);
            intTuple(t.stride());
            raw.op(0x89);
            newOrderedDict();
            raw.op('t');
            memoize();
            raw.op('R');
            memoize();
        }
    }

    private static byte[] storageBytes(Stored t) {
        int n = t.storage().length;
        ByteBuffer b = ByteBuffer.allocate(n * t.type().elementBytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : t.storage()) {
            switch (t.type()) {
                case FLOAT -> b.putFloat(v);
                case HALF -> b.putShort(TorchDtypes.floatToHalf(v));
                case BFLOAT16 -> b.putShort(TorchDtypes.floatToBfloat16(v));
                case DOUBLE -> b.putDouble(v);
                case LONG -> b.putLong((long) v);
                case INT -> b.putInt((int) v);
            }
        }
        return b.array();
    }

    /** torch writes 40 random decimal digits; these come from the content instead. */
    private static byte[] serializationId(byte[] pkl, List<byte[]> storages) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(pkl);
            storages.forEach(sha::update);
            String digits = new BigInteger(1, sha.digest()).toString();
            return ascii(digits.substring(0, 40));
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    /** A STORED record whose data starts at a multiple of {@value #ALIGNMENT} bytes, as torch's writer pads it. */
    private static void put(ZipOutputStream zip, ByteArrayOutputStream written, String name, byte[] data)
            throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        e.setTimeLocal(SafeZip.WRITTEN_AT);
        // local header: 30 bytes, the name, then the extra field: 'FB', its length, that many 'Z's
        long start = written.size() + 30L + name.getBytes(StandardCharsets.UTF_8).length + 4;
        int padding = (int) ((ALIGNMENT - start % ALIGNMENT) % ALIGNMENT);
        byte[] extra = new byte[4 + padding];
        extra[0] = 'F';
        extra[1] = 'B';
        extra[2] = (byte) padding;
        extra[3] = 0;
        java.util.Arrays.fill(extra, 4, extra.length, (byte) 'Z');
        e.setExtra(extra);
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** Raw pickle bytes, for the writer above and for hand-made (e.g. malicious) pickles in tests. */
    static final class Pickle {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pickle op(int b) {
            out.write(b);
            return this;
        }

        Pickle raw(byte[] bytes) {
            out.writeBytes(bytes);
            return this;
        }

        Pickle global(String module, String name) {
            op('c');
            return raw((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        }

        /** BINUNICODE */
        Pickle str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op('X');
            raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
            return raw(b);
        }

        /** SHORT_BINUNICODE (protocol 4) */
        Pickle shortStr(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            op(0x8c).op(b.length);
            return raw(b);
        }

        /** BININT */
        Pickle integer(long v) {
            op('J');
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        }

        /** BINPUT, or LONG_BINPUT past 255 */
        Pickle put(int index) {
            if (index < 256) {
                return op('q').op(index);
            }
            op('r');
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(index).array());
        }

        /** BINGET, or LONG_BINGET past 255 */
        Pickle get(int index) {
            if (index < 256) {
                return op('h').op(index);
            }
            op('j');
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(index).array());
        }

        int size() {
            return out.size();
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}

package dev.reftserver.intervention;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A minimal {@code torch.save} for tests: an OrderedDict of tensors pickled with protocol 2 the way torch's
 * pickler writes it (GLOBAL {@code torch._utils _rebuild_tensor_v2}, persistent ids
 * {@code ('storage', torch.XStorage, key, 'cpu', numel)}), in a zip of STORED entries under {@code <archive>/}.
 */
final class TorchSaveWriter {

    /** A tensor view on a storage of {@code storage.length} values. */
    record Stored(TorchStorageType type, double[] storage, long offset, int[] size, long[] stride) {

        static Stored contiguous(TorchStorageType type, float[] values, int... size) {
            double[] s = new double[values.length];
            for (int i = 0; i < s.length; i++) {
                s[i] = values[i];
            }
            long[] stride = new long[size.length];
            long st = 1;
            for (int i = size.length - 1; i >= 0; i--) {
                stride[i] = st;
                st *= size[i];
            }
            return new Stored(type, s, 0, size.clone(), stride);
        }

        static Stored of(FloatTensor t) {
            return contiguous(TorchStorageType.FLOAT, t.data(), t.shape());
        }

        static Stored scalarLong(long v) {
            return new Stored(TorchStorageType.LONG, new double[] {v}, 0, new int[0], new long[0]);
        }
    }

    private TorchSaveWriter() {
    }

    static byte[] save(String archive, Map<String, Stored> stateDict) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            put(zip, archive + "/data.pkl", pickle(stateDict));
            put(zip, archive + "/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
            int key = 0;
            for (Stored t : stateDict.values()) {
                put(zip, archive + "/data/" + key++, storageBytes(t));
            }
            put(zip, archive + "/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return bytes.toByteArray();
    }

    static byte[] pickle(Map<String, Stored> stateDict) {
        Pickle p = new Pickle();
        p.op(0x80).op(2);
        p.global("collections", "OrderedDict").op(')').op('R');
        p.op('(');
        int key = 0;
        for (Map.Entry<String, Stored> e : stateDict.entrySet()) {
            Stored t = e.getValue();
            p.str(e.getKey());
            p.global("torch._utils", "_rebuild_tensor_v2");
            p.op('(');
            p.op('(').str("storage").global("torch", t.type().className()).str(Integer.toString(key++)).str("cpu")
                    .integer(t.storage().length).op('t');
            p.op('Q');
            p.integer(t.offset());
            p.op('(');
            for (int s : t.size()) {
                p.integer(s);
            }
            p.op('t');
            p.op('(');
            for (long s : t.stride()) {
                p.integer(s);
            }
            p.op('t');
            p.op(0x89);
            p.global("collections", "OrderedDict").op(')').op('R');
            p.op('t');
            p.op('R');
        }
        p.op('u');
        p.op('.');
        return p.bytes();
    }

    private static byte[] storageBytes(Stored t) {
        int n = t.storage().length;
        ByteBuffer b = ByteBuffer.allocate(n * t.type().elementBytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : t.storage()) {
            switch (t.type()) {
                case FLOAT -> b.putFloat((float) v);
                case HALF -> b.putShort(Half16.floatToHalf((float) v));
                case BFLOAT16 -> b.putShort(Half16.floatToBfloat16((float) v));
                case DOUBLE -> b.putDouble(v);
                case LONG -> b.putLong((long) v);
                case INT -> b.putInt((int) v);
            }
        }
        return b.array();
    }

    private static void put(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }

    /** Raw pickle bytes, for the tensor writer above and for hand-made malicious pickles. */
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

        int size() {
            return out.size();
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}

package dev.reftserver.intervention;

import dev.reftserver.intervention.RestrictedUnpickler.TensorRef;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads a {@code torch.save}d state dict ({@code <prefix>/data.pkl}, {@code <prefix>/data/<key>} storages,
 * {@code <prefix>/byteorder}) through {@link SafeZip} and {@link RestrictedUnpickler}, honouring each tensor's
 * storage offset, sizes and strides.
 */
final class TorchStateDict {

    /**
     * One entry: floating tensors widened to fp32 in {@code floats}, integer ones in {@code longs}.
     */
    record Entry(TorchStorageType dtype, int[] shape, float[] floats, long[] longs) {

        FloatTensor asFloatTensor() {
            return new FloatTensor(shape, floats);
        }
    }

    private TorchStateDict() {
    }

    static Map<String, Entry> read(byte[] binZip, BundleLimits limits, ImportBudget budget, String where) {
        Map<String, byte[]> files = SafeZip.read(binZip, limits, budget, where);
        String pkl = null;
        for (String name : files.keySet()) {
            if (name.equals("data.pkl") || name.endsWith("/data.pkl")) {
                if (pkl != null) {
                    throw bad(where, "holds more than one data.pkl");
                }
                pkl = name;
            }
        }
        if (pkl == null) {
            throw bad(where, "is not a torch.save zip (no data.pkl)");
        }
        String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
        ByteOrder order = ByteOrder.LITTLE_ENDIAN;
        byte[] byteorder = files.get(prefix + "byteorder");
        if (byteorder != null) {
            String o = new String(byteorder, StandardCharsets.US_ASCII).trim();
            if (o.equals("big")) {
                order = ByteOrder.BIG_ENDIAN;
            } else if (!o.equals("little")) {
                throw bad(where, "byteorder '" + o + "' is neither little nor big");
            }
        }
        Object root = RestrictedUnpickler.load(files.get(pkl), where + " " + pkl, budget);
        if (!(root instanceof Map<?, ?> map)) {
            throw bad(where, "does not hold a state dict");
        }
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            if (!(e.getKey() instanceof String name)) {
                throw bad(where, "state dict has a key that is not a string");
            }
            if (!(e.getValue() instanceof TensorRef ref)) {
                throw bad(where, "state dict entry '" + name + "' is not a tensor");
            }
            out.put(name, materialize(ref, files, prefix, order, budget, where + ": tensor '" + name + "'"));
        }
        return out;
    }

    private static Entry materialize(TensorRef ref, Map<String, byte[]> files, String prefix, ByteOrder order,
            ImportBudget budget, String where) {
        TorchStorageType type = ref.storage().type();
        byte[] raw = files.get(prefix + "data/" + ref.storage().key());
        if (raw == null) {
            throw bad(where, "its storage data/" + ref.storage().key() + " is missing");
        }
        // numel is below 2^31 / elementBytes (the unpickler checks), so the product cannot overflow
        if ((long) raw.length != ref.storage().numel() * type.elementBytes()) {
            throw bad(where, "storage data/" + ref.storage().key() + " holds " + raw.length + " bytes, not "
                    + ref.storage().numel() + " " + type.torchName() + " values");
        }
        int[] size = ref.size();
        long numel = 1;
        for (int s : size) {
            numel = Math.multiplyExact(numel, s); // the unpickler already refused an overflowing product
        }
        if (numel > Integer.MAX_VALUE - 8) {
            throw new BundleRejectedException("too_large", where + ": " + numel + " values", true);
        }
        // an expanded view (stride 0) can name far more values than its storage holds: count what we build
        budget.spend(numel * 4, where);
        budget.checkTime(where);
        ByteBuffer buf = ByteBuffer.wrap(raw).order(order);
        int n = (int) numel;
        if (type == TorchStorageType.FLOAT && isContiguous(size, ref.stride())) {
            float[] floats = new float[n];
            buf.slice((int) ref.offset() * 4, n * 4).order(order).asFloatBuffer().get(floats);
            return new Entry(type, size.clone(), floats, null);
        }
        float[] floats = type.floating() ? new float[n] : null;
        long[] longs = type.floating() ? null : new long[n];
        int[] idx = new int[size.length];
        for (int i = 0; i < n; i++) {
            long element = ref.offset();
            for (int k = 0; k < size.length; k++) {
                element += idx[k] * ref.stride()[k];
            }
            int b = (int) element * type.elementBytes();
            switch (type) {
                case FLOAT -> floats[i] = buf.getFloat(b);
                case HALF -> floats[i] = TorchDtypes.halfToFloat(buf.getShort(b));
                case BFLOAT16 -> floats[i] = TorchDtypes.bfloat16ToFloat(buf.getShort(b));
                case DOUBLE -> floats[i] = (float) buf.getDouble(b);
                case LONG -> longs[i] = buf.getLong(b);
                case INT -> longs[i] = buf.getInt(b);
            }
            for (int k = size.length - 1; k >= 0; k--) {
                if (++idx[k] < size[k]) {
                    break;
                }
                idx[k] = 0;
            }
        }
        return new Entry(type, size.clone(), floats, longs);
    }

    private static boolean isContiguous(int[] size, long[] stride) {
        long expected = 1;
        for (int k = size.length - 1; k >= 0; k--) {
            if (size[k] != 1 && stride[k] != expected) {
                return false;
            }
            expected *= size[k];
        }
        return true;
    }

    private static BundleRejectedException bad(String where, String what) {
        return new BundleRejectedException("torch_file", where + ": " + what);
    }
}

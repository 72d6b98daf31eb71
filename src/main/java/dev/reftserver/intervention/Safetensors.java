package dev.reftserver.intervention;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The safetensors layout: a little-endian u64 header length, a JSON header
 * ({@code name -> {dtype, shape, data_offsets}}, plus an optional {@code __metadata__}), then the raw data. Reads
 * F32, F16 and BF16 (widened to fp32 in Java); writes F32.
 */
final class Safetensors {

    /** A header this large is not a bundle's. */
    private static final long MAX_HEADER_BYTES = 16L * 1024 * 1024;

    private static final JsonMapper JSON =
            JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private Safetensors() {
    }

    /** One header entry, checked but not yet decoded. */
    private record Slot(String name, String dtype, int[] shape, long numel, long begin, long end) {
    }

    /**
     * Decodes every tensor once the header has been checked whole: the byte ranges must tile the data section
     * exactly (sorted, no gap, no overlap, nothing after the last), so no byte can be decoded twice, and the fp32
     * bytes all tensors widen to are counted against {@code maxDecodedBytes} before any is decoded.
     *
     * @throws BundleRejectedException (reason {@code safetensors}, or {@code too_large} past
     *     {@code maxDecodedBytes}) naming {@code where} and the tensor
     */
    static Map<String, FloatTensor> read(byte[] bytes, String where, long maxDecodedBytes) {
        if (bytes.length < 8) {
            throw bad(where, "shorter than its 8-byte header length");
        }
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen = buf.getLong(0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > bytes.length - 8L) {
            throw bad(where, "header length " + headerLen + " is out of range");
        }
        JsonNode header;
        try {
            header = JSON.readTree(new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8));
        } catch (JacksonException ex) {
            throw bad(where, "header is not valid JSON (" + ex.getOriginalMessage() + ")");
        }
        if (header == null || !header.isObject()) {
            throw bad(where, "header is not a JSON object");
        }
        int dataStart = 8 + (int) headerLen;
        long dataLen = bytes.length - (long) dataStart;
        List<Slot> slots = new ArrayList<>();
        long decoded = 0;
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                continue;
            }
            Slot slot = slot(name, e.getValue(), where + ": tensor '" + name + "'", dataLen);
            slots.add(slot);
        }
        checkTiling(slots, dataLen, where);
        for (Slot s : slots) {
            decoded += 4 * s.numel(); // tiled: at most 2 * dataLen in all
        }
        if (decoded > maxDecodedBytes) {
            throw new BundleRejectedException("too_large", where + ": its tensors widen to " + decoded
                    + " bytes of fp32, more than the limit of " + maxDecodedBytes, true);
        }
        Map<String, FloatTensor> out = new LinkedHashMap<>();
        for (Slot s : slots) {
            float[] data = new float[(int) s.numel()];
            int base = dataStart + (int) s.begin();
            if (s.dtype().equals("F32")) {
                buf.slice(base, data.length * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data);
            } else {
                boolean half = s.dtype().equals("F16");
                for (int i = 0; i < data.length; i++) {
                    short bits = buf.getShort(base + 2 * i);
                    data[i] = half ? TorchDtypes.halfToFloat(bits) : TorchDtypes.bfloat16ToFloat(bits);
                }
            }
            out.put(s.name(), new FloatTensor(s.shape(), data));
        }
        return out;
    }

    private static Slot slot(String name, JsonNode info, String tw, long dataLen) {
        if (!info.isObject() || !info.path("dtype").isString() || !info.path("shape").isArray()
                || !info.path("data_offsets").isArray() || info.path("data_offsets").size() != 2) {
            throw bad(tw, "needs dtype, shape and data_offsets");
        }
        String dtype = info.get("dtype").stringValue();
        int elem = switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> throw bad(tw, "dtype " + printable(dtype) + " is not supported (F32, F16, BF16)");
        };
        JsonNode shapeNode = info.get("shape");
        if (shapeNode.size() > 8) {
            throw bad(tw, "has more than 8 dimensions");
        }
        int[] shape = new int[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode s = shapeNode.get(i);
            if (!s.isIntegralNumber() || !s.canConvertToInt() || s.intValue() < 0) {
                throw bad(tw, "shape " + shapeNode + " is not a list of non-negative ints");
            }
            shape[i] = s.intValue();
            numel *= shape[i]; // each factor < 2^31 and the product is kept below 2^31: no overflow
            if (numel > Integer.MAX_VALUE - 8) {
                throw bad(tw, "shape " + shapeNode + " is too large");
            }
        }
        JsonNode offs = info.get("data_offsets");
        if (!offs.get(0).isIntegralNumber() || !offs.get(1).isIntegralNumber()
                || !offs.get(0).canConvertToLong() || !offs.get(1).canConvertToLong()) {
            throw bad(tw, "data_offsets are not integers");
        }
        long begin = offs.get(0).asLong();
        long end = offs.get(1).asLong();
        if (begin < 0 || end < begin || end > dataLen) {
            throw bad(tw, "data_offsets [" + begin + ", " + end + "] are outside the data (" + dataLen + " bytes)");
        }
        if (end - begin != numel * elem) {
            throw bad(tw, "holds " + (end - begin) + " bytes but " + dtype + " " + shapeNode + " needs "
                    + numel * elem);
        }
        return new Slot(name, dtype, shape, numel, begin, end);
    }

    /** Sorted by offset, each range must start where the previous ended, from 0 to the end of the data. */
    private static void checkTiling(List<Slot> slots, long dataLen, String where) {
        List<Slot> sorted = new ArrayList<>(slots);
        sorted.sort(Comparator.comparingLong(Slot::begin).thenComparingLong(Slot::end));
        long next = 0;
        for (Slot s : sorted) {
            if (s.begin() != next) {
                throw bad(where + ": tensor '" + s.name() + "'", "data_offsets [" + s.begin() + ", " + s.end()
                        + "] " + (s.begin() < next ? "overlap another tensor's bytes" : "leave a gap at byte " + next)
                        + "; tensors must tile the data section exactly");
            }
            next = s.end();
        }
        if (next != dataLen) {
            throw bad(where, "the tensors end at byte " + next + " of a " + dataLen + "-byte data section");
        }
    }

    private static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && i < 40; i++) {
            char c = s.charAt(i);
            b.append(c >= 0x20 && c < 0x7f ? c : '?');
        }
        return b.toString();
    }

    /** F32 tensors in map order, data packed back to back, header padded with spaces to 8 bytes. */
    static byte[] write(Map<String, FloatTensor> tensors) {
        ObjectNode header = JSON.createObjectNode();
        long offset = 0;
        for (Map.Entry<String, FloatTensor> e : tensors.entrySet()) {
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", "F32");
            var shape = info.putArray("shape");
            for (int s : e.getValue().shape()) {
                shape.add(s);
            }
            long size = 4L * e.getValue().data().length;
            info.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] headerBytes = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(8 + padded + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded);
        out.put(headerBytes);
        for (int i = headerBytes.length; i < padded; i++) {
            out.put((byte) ' ');
        }
        for (FloatTensor t : tensors.values()) {
            for (float v : t.data()) {
                out.putFloat(v);
            }
        }
        return out.array();
    }

    private static BundleRejectedException bad(String where, String what) {
        return new BundleRejectedException("safetensors", where + ": " + what);
    }
}

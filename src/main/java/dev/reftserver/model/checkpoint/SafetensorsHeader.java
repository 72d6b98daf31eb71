package dev.reftserver.model.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A safetensors header: an 8-byte little-endian length, then JSON naming each tensor's dtype, shape and byte range.
 * Every range is checked against the file and the bytes its dtype and shape need before any tensor is read.
 */
final class SafetensorsHeader {

    /** One tensor: its dtype, shape and absolute byte range [begin, end) in the file. */
    record Entry(String dtype, long[] shape, long begin, long end) {
    }

    private SafetensorsHeader() {
    }

    /** A buffer for a header of {@code headerLen} bytes in a file of {@code size}, or a one-line refusal. */
    static byte[] checked(long size, long headerLen, String where) {
        if (size < 8) {
            throw new CheckpointException(where + ": too short to be a safetensors file (" + size + " bytes)");
        }
        if (headerLen <= 0 || headerLen > size - 8 || headerLen > 100_000_000L) {
            throw new CheckpointException(where + ": invalid safetensors header length " + headerLen
                    + " (file has " + size + " bytes; truncated or not safetensors)");
        }
        return new byte[(int) headerLen];
    }

    /** The tensors of a header, each range checked. */
    static Map<String, Entry> parse(byte[] header, long size, String where) {
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
}

package dev.reftserver.intervention;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Reads a zip held in memory through its central directory, the way torch's own zips must be read (their STORED
 * entries carry data descriptors, which {@code ZipInputStream} refuses). Every entry name is checked, sizes are
 * counted on the bytes actually inflated, and CRCs are verified; nothing touches the file system.
 */
final class SafeZip {

    /**
     * The entry time of every zip this package writes, so equal content gives equal bytes on any machine. Not
     * 1980-01-01 00:00:00: Java takes that DOS time for "before 1980" and adds an extended timestamp computed in
     * the JVM's time zone.
     */
    static final LocalDateTime WRITTEN_AT = LocalDateTime.of(1980, 1, 1, 0, 0, 2);

    private static final int EOCD = 0x06054b50;
    private static final int ZIP64_EOCD_LOCATOR = 0x07064b50;
    private static final int ZIP64_EOCD = 0x06064b50;
    private static final int CENTRAL = 0x02014b50;
    private static final int LOCAL = 0x04034b50;
    private static final long U32_MAX = 0xFFFFFFFFL;
    /** Entries up to this size may be compressed any amount (a small file of zeros is no bomb). */
    private static final long RATIO_FLOOR_BYTES = 1024 * 1024;
    private static final Pattern DRIVE = Pattern.compile("^[A-Za-z]:.*");

    private SafeZip() {
    }

    /**
     * @return every file (directories left out) by its checked name, in central directory order
     * @throws BundleRejectedException for a malformed or unsafe archive, or (tooLarge) one over the limits
     */
    static Map<String, byte[]> read(byte[] zip, BundleLimits limits, ImportBudget budget, String where) {
        ByteBuffer buf = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = findEndOfCentralDirectory(buf, where);
        long entries = u16(buf, eocd + 10);
        long cdSize = u32(buf, eocd + 12);
        long cdOffset = u32(buf, eocd + 16);
        if (u16(buf, eocd + 4) != 0 || u16(buf, eocd + 6) != 0) {
            throw malformed(where, "multi-disk archives are not supported");
        }
        if (entries == 0xFFFF || cdSize == U32_MAX || cdOffset == U32_MAX) {
            int locator = eocd - 20;
            if (locator < 0 || buf.getInt(locator) != ZIP64_EOCD_LOCATOR) {
                throw malformed(where, "zip64 end record missing");
            }
            long rec = buf.getLong(locator + 8);
            if (rec < 0 || rec > zip.length - 56 || buf.getInt((int) rec) != ZIP64_EOCD) {
                throw malformed(where, "zip64 end record out of range");
            }
            entries = buf.getLong((int) rec + 32);
            cdSize = buf.getLong((int) rec + 40);
            cdOffset = buf.getLong((int) rec + 48);
        }
        if (entries < 0 || entries > limits.maxEntries()) {
            throw new BundleRejectedException("too_large",
                    where + ": " + entries + " zip entries, more than the limit of " + limits.maxEntries(), true);
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > zip.length || cdSize > zip.length - cdOffset) {
            throw malformed(where, "central directory out of range");
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        int p = (int) cdOffset;
        for (long i = 0; i < entries; i++) {
            need(zip, p, 46, where);
            if (buf.getInt(p) != CENTRAL) {
                throw malformed(where, "bad central directory entry " + i);
            }
            int flags = u16(buf, p + 8);
            int method = u16(buf, p + 10);
            long crc = u32(buf, p + 16);
            long csize = u32(buf, p + 20);
            long usize = u32(buf, p + 24);
            int nameLen = u16(buf, p + 28);
            int extraLen = u16(buf, p + 30);
            int commentLen = u16(buf, p + 32);
            long localOffset = u32(buf, p + 42);
            need(zip, p + 46, nameLen + extraLen + commentLen, where);
            String name = decodeName(zip, p + 46, nameLen, where);
            // zip64 sizes live in extra field 0x0001, in this order, only for the fields set to 0xFFFFFFFF
            int e = p + 46 + nameLen;
            int extraEnd = e + extraLen;
            while (e + 4 <= extraEnd) {
                int id = u16(buf, e);
                int len = u16(buf, e + 2);
                int q = e + 4;
                if (q + len > extraEnd) {
                    throw malformed(where, "bad extra field in entry " + i);
                }
                if (id == 0x0001) {
                    if (usize == U32_MAX && q + 8 <= e + 4 + len) {
                        usize = buf.getLong(q);
                        q += 8;
                    }
                    if (csize == U32_MAX && q + 8 <= e + 4 + len) {
                        csize = buf.getLong(q);
                        q += 8;
                    }
                    if (localOffset == U32_MAX && q + 8 <= e + 4 + len) {
                        localOffset = buf.getLong(q);
                    }
                }
                e += 4 + len;
            }
            p += 46 + nameLen + extraLen + commentLen;

            String entryWhere = where + ": entry '" + printable(name) + "'";
            checkName(name, entryWhere);
            budget.checkTime(entryWhere);
            if ((flags & 1) != 0) {
                throw malformed(entryWhere, "encrypted entries are not supported");
            }
            if (name.endsWith("/")) {
                continue;
            }
            if (files.containsKey(name)) {
                throw malformed(entryWhere, "appears twice");
            }
            if (method != 0 && method != 8) {
                throw malformed(entryWhere, "compression method " + method + " is not supported (stored or deflate)");
            }
            if (csize < 0 || usize < 0 || localOffset < 0 || localOffset > zip.length - 30L) {
                throw malformed(entryWhere, "sizes or offset out of range");
            }
            int lh = (int) localOffset;
            if (buf.getInt(lh) != LOCAL) {
                throw malformed(entryWhere, "local header missing");
            }
            int localNameLen = u16(buf, lh + 26);
            int localExtraLen = u16(buf, lh + 28);
            need(zip, lh + 30, localNameLen + localExtraLen, where);
            if (!name.equals(decodeName(zip, lh + 30, localNameLen, entryWhere))) {
                throw malformed(entryWhere, "local and central names differ");
            }
            long start = (long) lh + 30 + localNameLen + localExtraLen;
            if (csize > zip.length - start) {
                throw malformed(entryWhere, "data runs past the end of the archive");
            }
            if (usize > limits.maxEntryBytes()) {
                throw tooLarge(entryWhere, limits);
            }
            // a bomb is refused on its declared sizes, before any inflating; inflate() holds it to them
            if (usize > RATIO_FLOOR_BYTES && usize > csize * limits.maxInflationRatio()) {
                throw new BundleRejectedException("too_large", entryWhere + ": declares " + usize + " bytes from "
                        + csize + " compressed, more than " + limits.maxInflationRatio() + " times", true);
            }
            byte[] data = method == 0
                    ? stored(zip, (int) start, csize, usize, limits, budget, entryWhere)
                    : inflate(zip, (int) start, (int) csize, usize, limits, budget, entryWhere);
            CRC32 c = new CRC32();
            c.update(data);
            if (c.getValue() != crc) {
                throw malformed(entryWhere, "CRC mismatch");
            }
            files.put(name, data);
        }
        return files;
    }

    private static byte[] stored(byte[] zip, int start, long csize, long usize, BundleLimits limits,
            ImportBudget budget, String where) {
        if (csize != usize) {
            throw malformed(where, "stored entry sizes disagree");
        }
        if (csize > limits.maxEntryBytes()) {
            throw tooLarge(where, limits);
        }
        budget.spend(csize, where);
        byte[] out = new byte[(int) csize];
        System.arraycopy(zip, start, out, 0, (int) csize);
        return out;
    }

    private static byte[] inflate(byte[] zip, int start, int csize, long usize, BundleLimits limits,
            ImportBudget budget, String where) {
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(zip, start, csize);
            ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Math.max(csize, 64), 1 << 20));
            byte[] chunk = new byte[64 * 1024];
            long total = 0;
            while (!inflater.finished()) {
                int n = inflater.inflate(chunk);
                if (n == 0) {
                    if (inflater.finished()) {
                        break; // an empty entry
                    }
                    if (inflater.needsInput() || inflater.needsDictionary()) {
                        throw malformed(where, "deflate stream is truncated");
                    }
                    continue;
                }
                total += n;
                if (total > usize) {
                    throw malformed(where, "inflates to more than the " + usize + " bytes its header says");
                }
                budget.spend(n, where);
                budget.checkTime(where);
                out.write(chunk, 0, n);
            }
            if (total != usize) {
                throw malformed(where, "inflated to " + total + " bytes, the header says " + usize);
            }
            return out.toByteArray();
        } catch (DataFormatException ex) {
            throw malformed(where, "corrupt deflate data (" + ex.getMessage() + ")");
        } finally {
            inflater.end();
        }
    }

    /** Rejects absolute paths, drive letters, backslashes, {@code .} / {@code ..} segments and control chars. */
    static void checkName(String name, String where) {
        if (name.isEmpty()) {
            throw unsafe(where, "empty name");
        }
        if (name.startsWith("/") || DRIVE.matcher(name).matches()) {
            throw unsafe(where, "absolute path");
        }
        if (name.indexOf('\\') >= 0) {
            throw unsafe(where, "backslash in path");
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                throw unsafe(where, "control character in path");
            }
        }
        String body = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
        for (String seg : body.split("/", -1)) {
            if (seg.isEmpty() || seg.equals(".") || seg.equals("..")) {
                throw unsafe(where, "path segment '" + seg + "' is not allowed");
            }
        }
    }

    private static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && i < 200; i++) {
            char c = s.charAt(i);
            b.append(Character.isISOControl(c) ? '?' : c);
        }
        return b.toString();
    }

    private static int findEndOfCentralDirectory(ByteBuffer buf, String where) {
        int len = buf.capacity();
        for (int i = len - 22; i >= Math.max(0, len - 22 - 0xFFFF); i--) {
            if (buf.getInt(i) == EOCD) {
                return i;
            }
        }
        throw malformed(where, "not a zip archive (no end of central directory)");
    }

    private static String decodeName(byte[] zip, int off, int len, String where) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(zip, off, len))
                    .toString();
        } catch (CharacterCodingException ex) {
            throw malformed(where, "entry name is not UTF-8");
        }
    }

    private static void need(byte[] zip, int off, int len, String where) {
        if (off < 0 || (long) off + len > zip.length) {
            throw malformed(where, "truncated archive");
        }
    }

    private static int u16(ByteBuffer b, int off) {
        return b.getShort(off) & 0xFFFF;
    }

    private static long u32(ByteBuffer b, int off) {
        return b.getInt(off) & U32_MAX;
    }

    private static BundleRejectedException malformed(String where, String what) {
        return new BundleRejectedException("bad_zip", where + ": " + what);
    }

    private static BundleRejectedException unsafe(String where, String what) {
        return new BundleRejectedException("zip_path", where + ": unsafe entry name (" + what + ")");
    }

    private static BundleRejectedException tooLarge(String where, BundleLimits limits) {
        return new BundleRejectedException("too_large",
                where + ": inflates to more than the per-entry limit of " + limits.maxEntryBytes() + " bytes", true);
    }
}

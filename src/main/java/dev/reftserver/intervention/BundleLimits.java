package dev.reftserver.intervention;

/**
 * Size limits on an uploaded bundle, enforced on the bytes actually inflated (zip headers are never trusted).
 * Exceeding any of them rejects the upload as too large (HTTP 413).
 *
 * @param maxZipBytes               the upload itself
 * @param maxEntryBytes             one inflated entry (nested torch zips included)
 * @param maxTotalUncompressedBytes all entries of one upload together, nested ones included
 * @param maxEntries                entries in one zip (the upload, or one nested {@code .bin})
 */
public record BundleLimits(long maxZipBytes, long maxEntryBytes, long maxTotalUncompressedBytes, int maxEntries) {

    private static final long MIB = 1024L * 1024L;

    public BundleLimits {
        if (maxZipBytes <= 0 || maxEntryBytes <= 0 || maxTotalUncompressedBytes <= 0 || maxEntries <= 0) {
            throw new IllegalArgumentException("bundle limits must be positive");
        }
        if (maxEntryBytes > Integer.MAX_VALUE - 8 || maxZipBytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("bundle limits must fit a Java array");
        }
    }

    /** 64 MiB upload, 64 MiB per entry, 256 MiB inflated in all, 4096 entries per zip. */
    public static BundleLimits defaults() {
        return new BundleLimits(64 * MIB, 64 * MIB, 256 * MIB, 4096);
    }

    /**
     * The limits for a server that accepts uploads of up to {@code maxUploadBytes}: the upload limit is exactly
     * that, and the inflated limits are the defaults or, for larger uploads, grow with it (one entry may be as
     * large as the upload, all of them four times as large), within what a Java array holds.
     */
    public static BundleLimits forMaxUpload(long maxUploadBytes) {
        BundleLimits d = defaults();
        long arrayMax = Integer.MAX_VALUE - 8;
        long upload = Math.min(maxUploadBytes, arrayMax);
        return new BundleLimits(upload, Math.min(Math.max(d.maxEntryBytes(), upload), arrayMax),
                Math.max(d.maxTotalUncompressedBytes(), 4 * upload), d.maxEntries());
    }
}

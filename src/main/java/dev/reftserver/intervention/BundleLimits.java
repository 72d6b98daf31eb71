package dev.reftserver.intervention;

import java.time.Duration;

/**
 * The one set of limits a bundle meets, both when it is uploaded and when its stored form is loaded for serving:
 * a bundle the importer accepts always loads under the same limits. Sizes are enforced on the bytes actually
 * inflated (zip headers are never trusted) and on the parameters a bundle expands to, counted in {@code long}
 * before the work they would cost. Exceeding a size limit rejects the bundle as too large (HTTP 413).
 *
 * @param maxZipBytes               the upload itself
 * @param maxEntryBytes             one inflated entry (nested torch zips included)
 * @param maxTotalUncompressedBytes all entries of one upload together, nested ones included
 * @param maxEntries                entries in one zip (the upload, or one nested {@code .bin})
 * @param maxInflationRatio         inflated / compressed size of one deflated entry (above 1 MiB inflated)
 * @param maxInterventions          interventions in one bundle
 * @param maxParameterBytes         fp32 bytes of all the bundle's parameters once expanded: one copy per
 *                                  intervention as stored (tensors shared between interventions count once for
 *                                  each), and packed on the device (ranks padded to the layer's largest)
 * @param maxImportTime             wall-clock time one import may take
 */
public record BundleLimits(long maxZipBytes, long maxEntryBytes, long maxTotalUncompressedBytes, int maxEntries,
        int maxInflationRatio, int maxInterventions, long maxParameterBytes, Duration maxImportTime) {

    /**
     * Bytes the stored native form spends on one intervention besides its tensor data, in each of its two files
     * (its safetensors header entries; its manifest entry): what {@link NativeBundleFormat#write} stays under.
     */
    static final long STORED_BYTES_PER_INTERVENTION = 1024;

    private static final long MIB = 1024L * 1024L;
    private static final long ARRAY_MAX = Integer.MAX_VALUE - 8;

    public BundleLimits {
        if (maxZipBytes <= 0 || maxEntryBytes <= 0 || maxTotalUncompressedBytes <= 0 || maxEntries <= 0
                || maxInflationRatio <= 0 || maxInterventions <= 0 || maxParameterBytes <= 0
                || maxImportTime == null || maxImportTime.isNegative() || maxImportTime.isZero()) {
            throw new IllegalArgumentException("bundle limits must be positive");
        }
        if (maxEntryBytes > ARRAY_MAX || maxZipBytes > ARRAY_MAX) {
            throw new IllegalArgumentException("bundle limits must fit a Java array");
        }
        long overhead = maxInterventions * STORED_BYTES_PER_INTERVENTION;
        if (maxParameterBytes > maxEntryBytes - overhead
                || maxParameterBytes > maxTotalUncompressedBytes - 2 * overhead) {
            throw new IllegalArgumentException("bundle limits must let the stored form of a bundle with "
                    + maxParameterBytes + " parameter bytes and " + maxInterventions + " interventions load");
        }
    }

    /**
     * 64 MiB upload; 68 MiB per inflated entry, 256 MiB in all, 4096 entries per zip, 200x inflation; 4096
     * interventions with 64 MiB of fp32 parameters; 10 s per import.
     */
    public static BundleLimits defaults() {
        return forMaxUpload(64 * MIB);
    }

    /**
     * The limits for a server that accepts uploads of up to {@code maxUploadBytes}: the upload limit is exactly
     * that; the parameters may expand to as many fp32 bytes as the upload holds (at least 64 MiB); one entry may
     * hold those parameters plus the stored form's headers, all entries together four times the upload (at least
     * 256 MiB); all within what a Java array holds.
     */
    public static BundleLimits forMaxUpload(long maxUploadBytes) {
        int interventions = 4096;
        long overhead = interventions * STORED_BYTES_PER_INTERVENTION;
        long upload = Math.min(maxUploadBytes, ARRAY_MAX);
        long parameters = Math.min(Math.max(64 * MIB, upload), ARRAY_MAX - overhead);
        long entry = parameters + overhead;
        long total = Math.max(Math.max(256 * MIB, 4 * upload), parameters + 2 * overhead);
        return new BundleLimits(upload, entry, total, 4096, 200, interventions, parameters, Duration.ofSeconds(10));
    }
}

package dev.reftserver.intervention;

/**
 * What one import may spend, shared by the upload's zip, every zip nested in it and every parser they feed:
 * inflated bytes and wall-clock time. Parsers check the clock at steps proportional to their work, so a
 * pathological input ends with a clear rejection instead of holding a request thread.
 */
final class ImportBudget {

    private final long maxInflatedBytes;
    private final long deadlineNanos;
    private final long maxNanos;
    private long inflated;

    ImportBudget(long maxInflatedBytes, long maxNanos) {
        this.maxInflatedBytes = maxInflatedBytes;
        this.maxNanos = maxNanos;
        this.deadlineNanos = System.nanoTime() + maxNanos;
    }

    /** A budget of {@code limits}' total inflated bytes and import time, starting now. */
    static ImportBudget of(BundleLimits limits) {
        return new ImportBudget(limits.maxTotalUncompressedBytes(), limits.maxImportTime().toNanos());
    }

    /** Counts {@code n} more inflated (or materialized) bytes. */
    void spend(long n, String where) {
        inflated += n;
        if (n < 0 || inflated > maxInflatedBytes) {
            throw new BundleRejectedException("too_large",
                    where + ": the bundle inflates to more than " + maxInflatedBytes + " bytes in all", true);
        }
    }

    /** @throws BundleRejectedException (reason {@code too_complex}) once the import has run past its time */
    void checkTime(String where) {
        if (System.nanoTime() - deadlineNanos > 0) {
            throw new BundleRejectedException("too_complex", where + ": reading the bundle takes longer than "
                    + maxNanos / 1_000_000 + " ms; it is not a plausible bundle");
        }
    }
}

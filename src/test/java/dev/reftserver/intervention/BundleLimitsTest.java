package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The importer's limits follow the server's upload limit, so every upload the server takes can be imported. */
class BundleLimitsTest {

    private static final long MIB = 1024L * 1024L;

    @Test
    void theDefaultUploadLimitGivesTheDefaults() {
        assertThat(BundleLimits.forMaxUpload(64 * MIB)).isEqualTo(BundleLimits.defaults());
    }

    @Test
    void aSmallerUploadLimitOnlyLowersTheUploadLimit() {
        BundleLimits d = BundleLimits.defaults();
        assertThat(BundleLimits.forMaxUpload(64 * 1024)).isEqualTo(
                new BundleLimits(64 * 1024, d.maxEntryBytes(), d.maxTotalUncompressedBytes(), d.maxEntries()));
    }

    @Test
    void aLargerUploadLimitRaisesWhatMayBeInflated() {
        assertThat(BundleLimits.forMaxUpload(200 * MIB)).isEqualTo(
                new BundleLimits(200 * MIB, 200 * MIB, 800 * MIB, BundleLimits.defaults().maxEntries()));
    }

    @Test
    void anUploadLimitPastAJavaArrayIsCappedThere() {
        BundleLimits l = BundleLimits.forMaxUpload(16L * 1024 * MIB);
        assertThat(l.maxZipBytes()).isEqualTo(Integer.MAX_VALUE - 8);
        assertThat(l.maxEntryBytes()).isEqualTo(Integer.MAX_VALUE - 8);
    }
}

package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The limits follow the server's upload limit, so every upload the server takes can be imported, and always leave
 * room for the stored form of any bundle they accept, so every accepted bundle loads under the same limits.
 */
class BundleLimitsTest {

    private static final long MIB = 1024L * 1024L;
    private static final long STORED_OVERHEAD = 4096 * BundleLimits.STORED_BYTES_PER_INTERVENTION;

    @Test
    void theDefaultUploadLimitGivesTheDefaults() {
        BundleLimits d = BundleLimits.defaults();
        assertThat(BundleLimits.forMaxUpload(64 * MIB)).isEqualTo(d);
        assertThat(d).isEqualTo(new BundleLimits(64 * MIB, 64 * MIB + STORED_OVERHEAD, 256 * MIB, 4096, 200, 4096,
                64 * MIB, Duration.ofSeconds(10)));
    }

    @Test
    void aSmallerUploadLimitOnlyLowersTheUploadLimit() {
        BundleLimits d = BundleLimits.defaults();
        assertThat(BundleLimits.forMaxUpload(64 * 1024)).isEqualTo(new BundleLimits(64 * 1024, d.maxEntryBytes(),
                d.maxTotalUncompressedBytes(), d.maxEntries(), d.maxInflationRatio(), d.maxInterventions(),
                d.maxParameterBytes(), d.maxImportTime()));
    }

    @Test
    void aLargerUploadLimitRaisesWhatMayBeInflatedAndExpanded() {
        BundleLimits l = BundleLimits.forMaxUpload(200 * MIB);
        assertThat(l.maxZipBytes()).isEqualTo(200 * MIB);
        assertThat(l.maxParameterBytes()).isEqualTo(200 * MIB);
        assertThat(l.maxEntryBytes()).isEqualTo(200 * MIB + STORED_OVERHEAD);
        assertThat(l.maxTotalUncompressedBytes()).isEqualTo(800 * MIB);
    }

    @Test
    void anUploadLimitPastAJavaArrayIsCappedThere() {
        BundleLimits l = BundleLimits.forMaxUpload(16L * 1024 * MIB);
        assertThat(l.maxZipBytes()).isEqualTo(Integer.MAX_VALUE - 8);
        assertThat(l.maxEntryBytes()).isEqualTo(Integer.MAX_VALUE - 8);
        assertThat(l.maxParameterBytes()).isEqualTo(Integer.MAX_VALUE - 8 - STORED_OVERHEAD);
    }

    @Test
    void refusesLimitsUnderWhichAnAcceptedBundleCouldNotLoad() {
        assertThatThrownBy(() -> new BundleLimits(64 * MIB, 64 * MIB, 256 * MIB, 4096, 200, 4096, 64 * MIB,
                Duration.ofSeconds(10))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("stored form");
    }
}

package dev.reftserver.registry;

import dev.reftserver.intervention.BundleSummary;
import java.util.List;
import java.util.Random;

/** Small stand-ins for validated bundles: the store treats bundle bytes as opaque. */
final class TestBundles {

    static final BundleSummary SUMMARY = new BundleSummary("loreft", List.of(1, 3), 4, "f3+l3", false, 2);

    private TestBundles() {
    }

    static byte[] bytes(long seed, int size) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}

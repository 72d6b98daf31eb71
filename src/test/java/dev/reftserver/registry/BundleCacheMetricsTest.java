package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleCacheMetricsTest {

    @TempDir
    Path dir;
    EmbeddedStore store;
    BundleCache<BundleCacheTest.Loaded> cache;
    SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @BeforeEach
    void setUp() {
        store = new EmbeddedStore(dir);
        for (int i = 1; i <= 3; i++) {
            store.addVersion("acme", "b" + i, TestBundles.SUMMARY, TestBundles.bytes(i, 100));
        }
        cache = new BundleCache<>(store, 250, BundleCacheTest.Loaded::new, l -> l.bytes.length);
        new BundleCacheMetrics(cache).bindTo(registry);
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    double counter(String name) {
        return registry.get(name).functionCounter().count();
    }

    double gauge(String name) {
        return registry.get(name).gauge().value();
    }

    @Test
    void readsHitsMissesEvictionsAndBytesFromTheCache() {
        assertThat(gauge("reft.bundle.cache.max")).isEqualTo(250);
        assertThat(gauge("reft.bundle.cache.size")).isZero();
        for (int i : new int[] {1, 1, 2, 1, 3}) {
            cache.acquire(new BundleKey("acme", "b" + i, 1)).close();
        }
        // b1 hit twice; b1, b2, b3 missed; b3 pushed the least recently used (b2) out of the 250-byte budget
        assertThat(counter("reft.bundle.cache.hits")).isEqualTo(2);
        assertThat(counter("reft.bundle.cache.misses")).isEqualTo(3);
        assertThat(counter("reft.bundle.cache.evictions")).isEqualTo(1);
        assertThat(gauge("reft.bundle.cache.size")).isEqualTo(200);
        assertThat(gauge("reft.bundle.cache.entries")).isEqualTo(2);
    }
}

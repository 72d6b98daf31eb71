package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleCacheTest {

    /** A loaded bundle whose size is its byte count and which records whether it was closed. */
    static final class Loaded implements AutoCloseable {
        final byte[] bytes;
        boolean closed;

        Loaded(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    @TempDir
    Path dir;
    EmbeddedStore store;
    List<Loaded> loads = new ArrayList<>();
    BundleCache<Loaded> cache;

    @BeforeEach
    void setUp() {
        store = new EmbeddedStore(dir);
        for (int i = 1; i <= 3; i++) {
            store.addVersion("acme", "b" + i, TestBundles.SUMMARY, TestBundles.bytes(i, 100));
        }
        cache = new BundleCache<>(store, 250, zip -> {
            Loaded l = new Loaded(zip);
            loads.add(l);
            return l;
        }, l -> l.bytes.length);
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    private static BundleKey key(int i) {
        return new BundleKey("acme", "b" + i, 1);
    }

    @Test
    void loadsOnceAndCountsHitsAndMisses() {
        try (var a = cache.acquire(key(1)); var b = cache.acquire(key(1))) {
            assertThat(a.value()).isSameAs(b.value());
            assertThat(a.value().bytes).isEqualTo(TestBundles.bytes(1, 100));
        }
        assertThat(loads).hasSize(1);
        assertThat(cache.misses()).isEqualTo(1);
        assertThat(cache.hits()).isEqualTo(1);
        assertThat(cache.currentBytes()).isEqualTo(100);
        assertThat(loads.get(0).closed).isFalse();
    }

    @Test
    void evictsLeastRecentlyUsedPastTheByteBudgetAndReloadsIt() {
        cache.acquire(key(1)).close();
        cache.acquire(key(2)).close();
        cache.acquire(key(1)).close(); // b2 is now the least recently used
        cache.acquire(key(3)).close();
        assertThat(cache.evictions()).isEqualTo(1);
        assertThat(cache.currentBytes()).isEqualTo(200);
        assertThat(loads.get(1).closed).isTrue();
        assertThat(loads.get(0).closed).isFalse();

        try (var again = cache.acquire(key(2))) {
            assertThat(again.value().bytes).isEqualTo(TestBundles.bytes(2, 100));
            assertThat(again.value()).isNotSameAs(loads.get(1));
        }
        assertThat(loads).hasSize(4);
    }

    @Test
    void closesAnEvictedValueOnlyWhenItsLastLeaseIsReleased() {
        var held = cache.acquire(key(1));
        var held2 = cache.acquire(key(1));
        cache.acquire(key(2)).close();
        cache.acquire(key(3)).close(); // evicts b1, which is still leased
        assertThat(cache.evictions()).isEqualTo(1);
        assertThat(held.value().closed).isFalse();
        held.close();
        held.close(); // releasing twice counts once
        assertThat(loads.get(0).closed).isFalse();
        held2.close();
        assertThat(loads.get(0).closed).isTrue();
    }

    @Test
    void dropsAVersionDeletedFromTheStore() {
        cache.acquire(key(1)).close();
        store.deleteVersion("acme", "b1", 1);
        assertThat(cache.size()).isZero();
        assertThat(cache.currentBytes()).isZero();
        assertThat(loads.get(0).closed).isTrue();
        assertThatThrownBy(() -> cache.acquire(key(1))).isInstanceOf(ModelNotFoundException.class);
    }

    @Test
    void dropsADeletedTenantsBundles() {
        store.addVersion("globex", "g", TestBundles.SUMMARY, TestBundles.bytes(9, 10));
        cache.acquire(key(1)).close();
        cache.acquire(new BundleKey("globex", "g", 1)).close();
        store.deleteTenant("acme");
        assertThat(cache.size()).isEqualTo(1);
        assertThat(cache.currentBytes()).isEqualTo(10);
    }

    @Test
    void aValueLargerThanTheBudgetIsServedThenClosed() {
        store.addVersion("acme", "big", TestBundles.SUMMARY, TestBundles.bytes(5, 1000));
        try (var lease = cache.acquire(new BundleKey("acme", "big", 1))) {
            assertThat(lease.value().bytes).hasSize(1000);
            assertThat(lease.value().closed).isFalse();
        }
        assertThat(loads.get(loads.size() - 1).closed).isTrue();
        assertThat(cache.currentBytes()).isZero();
    }

    @Test
    void aFailedLoadIsNotCached() {
        BundleCache<Loaded> failing = new BundleCache<>(store, 1000, zip -> {
            throw new IllegalArgumentException("bad bundle");
        }, l -> 0);
        assertThatThrownBy(() -> failing.acquire(key(1))).hasMessage("bad bundle");
        assertThatThrownBy(() -> failing.acquire(key(1))).hasMessage("bad bundle");
        assertThat(failing.misses()).isEqualTo(2);
        assertThat(failing.size()).isZero();
    }
}

package dev.reftserver.registry;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;

/**
 * The loaded-bundle cache's meters, read from its own counts at scrape time: nothing is recorded on the request
 * path. A low hit ratio with steady evictions means {@code reft.registry.cache-max-bytes} is too small for the
 * bundles in use.
 */
public final class BundleCacheMetrics implements MeterBinder {

    private final BundleCache<?> cache;

    public BundleCacheMetrics(BundleCache<?> cache) {
        this.cache = cache;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        FunctionCounter.builder("reft.bundle.cache.hits", cache, BundleCache::hits)
                .description("Bundle loads served from the cache").register(registry);
        FunctionCounter.builder("reft.bundle.cache.misses", cache, BundleCache::misses)
                .description("Bundle loads that had to read and load the bundle").register(registry);
        FunctionCounter.builder("reft.bundle.cache.evictions", cache, BundleCache::evictions)
                .description("Bundles evicted to stay within the byte budget").register(registry);
        Gauge.builder("reft.bundle.cache.size", cache, BundleCache::currentBytes).baseUnit("bytes")
                .description("Bytes of the bundles now cached").register(registry);
        Gauge.builder("reft.bundle.cache.max", cache, BundleCache::maxBytes).baseUnit("bytes")
                .description("Byte budget of the bundle cache").register(registry);
        Gauge.builder("reft.bundle.cache.entries", cache, BundleCache::size)
                .description("Bundles now cached").register(registry);
    }
}

package dev.reftserver.registry;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import java.util.function.ToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loaded bundles (e.g. device-resident intervention weights), least recently used first out once their sizes
 * add up past a byte budget. Values are handed out as {@link Lease}s: an evicted or invalidated value is
 * closed when its last lease is released, never while in use. A value that left the cache is loaded again from
 * the store on its next request. Deleted versions (here or on another replica) are dropped.
 *
 * @param <T> the loaded form; closed when it leaves the cache and no lease holds it
 */
public final class BundleCache<T extends AutoCloseable> {

    private static final Logger log = LoggerFactory.getLogger(BundleCache.class);

    private final RegistryStore store;
    private final long maxBytes;
    private final Function<byte[], T> loader;
    private final ToLongFunction<T> sizeOf;

    private final Object lock = new Object();
    private final LinkedHashMap<BundleKey, Entry<T>> entries = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<BundleKey, CompletableFuture<Entry<T>>> loading = new LinkedHashMap<>();
    private long bytes;
    private long hits;
    private long misses;
    private long evictions;

    /**
     * @param loader turns a version's stored bundle bytes into the loaded value; may throw
     * @param sizeOf the bytes a loaded value occupies, counted against {@code maxBytes}
     */
    public BundleCache(RegistryStore store, long maxBytes, Function<byte[], T> loader, ToLongFunction<T> sizeOf) {
        this.store = store;
        this.maxBytes = maxBytes;
        this.loader = loader;
        this.sizeOf = sizeOf;
        store.addListener(this::onChange);
    }

    /**
     * A lease on the loaded bundle; release it (close) when done.
     *
     * @throws ModelNotFoundException if the version no longer exists
     */
    public Lease<T> acquire(BundleKey key) {
        boolean counted = false;
        while (true) {
            CompletableFuture<Entry<T>> pending;
            boolean mine = false;
            synchronized (lock) {
                Entry<T> e = entries.get(key);
                if (e != null) {
                    if (!counted) {
                        hits++;
                    }
                    e.refs++;
                    return new Lease<>(this, e);
                }
                if (!counted) {
                    misses++;
                    counted = true;
                }
                pending = loading.get(key);
                if (pending == null) {
                    pending = new CompletableFuture<>();
                    loading.put(key, pending);
                    mine = true;
                }
            }
            if (mine) {
                return load(key, pending);
            }
            Entry<T> loaded;
            try {
                loaded = pending.join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : e;
            }
            synchronized (lock) {
                // Evicted and closed between its load and now: load it again.
                if (!(loaded.detached && loaded.refs == 0)) {
                    loaded.refs++;
                    return new Lease<>(this, loaded);
                }
            }
        }
    }

    /** Loads a bundle for its first requester, who gets the first lease; others wait on {@code pending}. */
    private Lease<T> load(BundleKey key, CompletableFuture<Entry<T>> pending) {
        List<Entry<T>> toClose = new ArrayList<>();
        try {
            byte[] zip = store.bundle(key.tenant(), key.name(), key.version())
                    .orElseThrow(() -> new ModelNotFoundException("model", key.id()));
            T value = loader.apply(zip);
            Entry<T> entry = new Entry<>(key, value, sizeOf.applyAsLong(value));
            Lease<T> lease;
            synchronized (lock) {
                loading.remove(key);
                entry.refs++;
                lease = new Lease<>(this, entry);
                entries.put(key, entry);
                bytes += entry.size;
                evictOverBudget(toClose);
            }
            pending.complete(entry);
            return lease;
        } catch (RuntimeException e) {
            synchronized (lock) {
                loading.remove(key);
            }
            pending.completeExceptionally(e);
            throw e;
        } finally {
            closeAll(toClose);
        }
    }

    private void evictOverBudget(List<Entry<T>> toClose) {
        Iterator<Entry<T>> it = entries.values().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            Entry<T> eldest = it.next();
            it.remove();
            evictions++;
            detach(eldest, toClose);
        }
    }

    /** Takes an entry out of the accounting; closes it now if no lease holds it, else at its last release. */
    private void detach(Entry<T> e, List<Entry<T>> toClose) {
        bytes -= e.size;
        e.detached = true;
        if (e.refs == 0) {
            toClose.add(e);
        }
    }

    private void release(Entry<T> e) {
        boolean close;
        synchronized (lock) {
            e.refs--;
            close = e.detached && e.refs == 0;
        }
        if (close) {
            closeAll(List.of(e));
        }
    }

    /** Drops one version; a value in use closes when released. */
    public void invalidate(BundleKey key) {
        invalidateWhere(k -> k.equals(key));
    }

    public void invalidateTenant(String tenant) {
        invalidateWhere(k -> k.tenant().equals(tenant));
    }

    public void invalidateAll() {
        invalidateWhere(k -> true);
    }

    private void invalidateWhere(java.util.function.Predicate<BundleKey> match) {
        List<Entry<T>> toClose = new ArrayList<>();
        synchronized (lock) {
            Iterator<Entry<T>> it = entries.values().iterator();
            while (it.hasNext()) {
                Entry<T> e = it.next();
                if (match.test(e.key)) {
                    it.remove();
                    detach(e, toClose);
                }
            }
        }
        closeAll(toClose);
    }

    private void onChange(RegistryChange change) {
        switch (change.kind()) {
            case VERSION_DELETED -> invalidate(new BundleKey(change.tenant(), change.name(), change.version()));
            case TENANT_DELETED -> invalidateTenant(change.tenant());
            case ALL -> invalidateAll();
            default -> {
                // versions are immutable: nothing else makes a loaded bundle stale
            }
        }
    }

    private static <T extends AutoCloseable> void closeAll(List<Entry<T>> list) {
        for (Entry<T> e : list) {
            try {
                e.value.close();
            } catch (Exception ex) {
                log.warn("closing cached bundle {} failed", e.key, ex);
            }
        }
    }

    public long hits() {
        synchronized (lock) {
            return hits;
        }
    }

    public long misses() {
        synchronized (lock) {
            return misses;
        }
    }

    public long evictions() {
        synchronized (lock) {
            return evictions;
        }
    }

    /** Bytes of the values now in the cache (values evicted but still leased are not counted). */
    public long currentBytes() {
        synchronized (lock) {
            return bytes;
        }
    }

    public int size() {
        synchronized (lock) {
            return entries.size();
        }
    }

    public long maxBytes() {
        return maxBytes;
    }

    private static final class Entry<T> {
        final BundleKey key;
        final T value;
        final long size;
        int refs;
        boolean detached;

        Entry(BundleKey key, T value, long size) {
            this.key = key;
            this.value = value;
            this.size = size;
        }
    }

    /** A hold on a loaded value; the value stays open until every lease on it is closed. */
    public static final class Lease<T extends AutoCloseable> implements AutoCloseable {

        private final BundleCache<T> cache;
        private final Entry<T> entry;
        private boolean released;

        private Lease(BundleCache<T> cache, Entry<T> entry) {
            this.cache = cache;
            this.entry = entry;
        }

        public T value() {
            if (released) {
                throw new IllegalStateException("lease already released");
            }
            return entry.value;
        }

        public BundleKey key() {
            return entry.key;
        }

        @Override
        public synchronized void close() {
            if (!released) {
                released = true;
                cache.release(entry);
            }
        }
    }
}

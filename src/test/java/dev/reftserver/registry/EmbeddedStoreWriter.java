package dev.reftserver.registry;

import java.nio.file.Path;

/**
 * Child process of {@link EmbeddedStoreCrashTest}: uploads bundles in a loop and prints each acknowledged one
 * as {@code ACK name version sha256} after the store returned, until it is killed.
 */
public final class EmbeddedStoreWriter {

    private EmbeddedStoreWriter() {
    }

    public static void main(String[] args) {
        EmbeddedStore store = new EmbeddedStore(Path.of(args[0]));
        System.out.println("READY");
        System.out.flush();
        for (int i = 0; ; i++) {
            // sizes up to ~1 MiB make the kill likely to land inside a write
            byte[] bytes = TestBundles.bytes(i, 1000 + (i * 7919) % 1_000_000);
            InterventionVersion v = store.addVersion("acme", "n" + (i % 3), TestBundles.SUMMARY, bytes);
            System.out.println("ACK " + v.name() + " " + v.version() + " " + v.sha256());
            System.out.flush();
        }
    }
}

package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedStoreTest extends RegistryStoreContract {

    @TempDir
    Path dir;

    @Override
    protected RegistryStore newStore(Quotas quotas) {
        return new EmbeddedStore(dir, quotas);
    }

    @Override
    protected RegistryStore reopen(Quotas quotas) {
        store.close();
        return new EmbeddedStore(dir, quotas);
    }

    @Override
    protected boolean replicasShareStorage() {
        return false;
    }

    @Test
    void refusesASecondOpenStoreOnOneDirectory() {
        assertThatThrownBy(() -> new EmbeddedStore(dir)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("in use");
    }

    @Test
    void startupRemovesUnfinishedWritesAndBundlesNoVersionNames() throws Exception {
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 100));
        Files.write(dir.resolve(".registry.json.123.tmp"), new byte[] {'{'});
        Files.write(dir.resolve("bundles").resolve(".x.zip.456.tmp"), new byte[10]);
        Files.write(dir.resolve("bundles").resolve("orphan.zip"), new byte[10]);

        try (RegistryStore again = reopen()) {
            assertThat(again.versions("acme")).hasSize(1);
            try (Stream<Path> files = Files.list(dir.resolve("bundles"))) {
                assertThat(files).hasSize(1);
            }
            assertThat(dir.resolve(".registry.json.123.tmp")).doesNotExist();
            assertThat(again.bundle("acme", "a", 1)).isPresent();
        }
    }
}

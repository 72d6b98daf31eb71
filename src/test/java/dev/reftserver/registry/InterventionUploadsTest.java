package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.intervention.ImportedBundle;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InterventionUploadsTest {

    @TempDir
    Path dir;
    EmbeddedStore store;
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    InterventionUploads uploads;

    /** Accepts bytes that start like a zip; refuses the rest with the reason the bytes spell after "x:". */
    static ImportedBundle validate(byte[] zip, String positions, Boolean shareWeights, String promptTemplate) {
        String s = new String(zip);
        if (s.startsWith("x:")) {
            throw new BundleRejectedException(s.substring(2), "refused: " + s.substring(2));
        }
        return new ImportedBundle(TestBundles.SUMMARY, zip);
    }

    @BeforeEach
    void setUp() {
        store = new EmbeddedStore(dir);
        uploads = new InterventionUploads(store, InterventionUploadsTest::validate, new UploadMetrics(registry));
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    double uploadsWith(String outcome) {
        return registry.get("reft.bundle.uploads").tag("outcome", outcome).counter().count();
    }

    double failures(String reason) {
        return registry.get("reft.bundle.validation.failures").tag("reason", reason).counter().count();
    }

    @Test
    void countsUploadsByOutcomeAndValidationFailuresByReason() {
        assertThat(uploads.upload("acme", "a", null, TestBundles.bytes(1, 64), null, null).version()).isEqualTo(1);
        assertThat(uploads.upload("acme", "a", null, TestBundles.bytes(2, 64), null, null).version()).isEqualTo(2);
        assertThatThrownBy(() -> uploads.upload("acme", "a", null, "x:pickle_global".getBytes(), null, null))
                .isInstanceOf(BundleRejectedException.class);
        assertThatThrownBy(() -> uploads.upload("acme", "a", null, "x:not_orthonormal".getBytes(), null, null))
                .isInstanceOf(BundleRejectedException.class);
        assertThatThrownBy(() -> uploads.upload("acme", "a", null, "x:pickle_global".getBytes(), null, null))
                .isInstanceOf(BundleRejectedException.class);
        assertThatThrownBy(() -> uploads.upload("acme", "bad@name", null, TestBundles.bytes(3, 64), null, null))
                .isInstanceOf(ServiceException.class);

        assertThat(uploadsWith("accepted")).isEqualTo(2);
        assertThat(uploadsWith("rejected")).isEqualTo(3);
        assertThat(uploadsWith("invalid")).isEqualTo(1);
        assertThat(uploadsWith("failed")).isZero();
        assertThat(failures("pickle_global")).isEqualTo(2);
        assertThat(failures("not_orthonormal")).isEqualTo(1);
        assertThat(registry.find("reft.bundle.validation.failures").counters()).hasSize(2);
        assertThat(store.versions("acme")).hasSize(2);
    }

    @Test
    void countsAnUploadTheStoreCannotKeepAsFailed() throws Exception {
        // A file where the bundle directory should be: the store cannot write the bundle.
        Path bundles = dir.resolve("bundles");
        try (var files = Files.list(bundles)) {
            assertThat(files).isEmpty();
        }
        Files.delete(bundles);
        Files.writeString(bundles, "in the way");
        assertThatThrownBy(() -> uploads.upload("acme", "a", null, TestBundles.bytes(1, 64), null, null))
                .isInstanceOf(RuntimeException.class);
        assertThat(uploadsWith("failed")).isEqualTo(1);
        assertThat(uploadsWith("accepted")).isZero();
    }
}

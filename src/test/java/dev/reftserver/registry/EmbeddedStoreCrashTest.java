package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedStoreCrashTest {

    @TempDir
    Path dir;

    @Test
    void aKilledWriterLeavesEveryAcknowledgedBundleIntactAndNoPartialOne() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                EmbeddedStoreWriter.class.getName(), dir.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        List<String[]> acked = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(
                new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("ACK ")) {
                    acked.add(line.split(" "));
                    if (acked.size() == 40) {
                        child.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no finally blocks
                        break;
                    }
                }
            }
        } finally {
            child.destroyForcibly();
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(acked).hasSize(40);

        try (EmbeddedStore store = new EmbeddedStore(dir)) {
            for (String[] ack : acked) {
                int version = Integer.parseInt(ack[2]);
                assertThat(store.version("acme", ack[1], version)).as(ack[1] + "@" + version).isPresent();
                byte[] bytes = store.bundle("acme", ack[1], version).orElseThrow();
                assertThat(Sha256.hex(bytes)).isEqualTo(ack[3]);
            }
            // whatever became visible beyond the acknowledged ones is whole too
            for (InterventionVersion v : store.versions("acme")) {
                byte[] bytes = store.bundle("acme", v.name(), v.version()).orElseThrow();
                assertThat(bytes.length).isEqualTo(v.bytes());
                assertThat(Sha256.hex(bytes)).isEqualTo(v.sha256());
            }
            // the writer may have run ahead of what we read before the kill, never behind
            assertThat(store.versions("acme").size()).isGreaterThanOrEqualTo(40);
            try (Stream<Path> files = Files.walk(dir)) {
                assertThat(files.map(Path::toString).filter(f -> f.endsWith(".tmp"))).isEmpty();
            }
            try (Stream<Path> bundles = Files.list(dir.resolve("bundles"))) {
                assertThat(bundles.count()).isEqualTo(store.versions("acme").size());
            }
        }
        assertThat(new File(dir.toFile(), "registry.json")).exists();
    }
}

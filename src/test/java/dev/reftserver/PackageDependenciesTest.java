package dev.reftserver;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Dependencies point down: the HTTP layer ({@code dev.reftserver.api}) may use every other package, and no other
 * package may use it. Read from the compiled classes, so imports, fully qualified names and inlined constants
 * all count: a class file names every class it refers to in its constant pool, as {@code dev/reftserver/api/...}.
 */
class PackageDependenciesTest {

    private static final String API = "dev/reftserver/api/";

    @Test
    void noPackageButApiReferencesTheApiPackage() throws Exception {
        Path classes = classesRoot();
        List<String> offenders = new ArrayList<>();
        int scanned = 0;
        try (Stream<Path> files = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".class"))::iterator) {
                String name = classes.relativize(f).toString().replace('\\', '/');
                scanned++;
                if (!name.startsWith(API) && refersTo(f, API)) {
                    offenders.add(name);
                }
            }
        }
        assertThat(scanned).as("compiled classes found under %s", classes).isGreaterThan(100);
        assertThat(offenders).as("classes outside %s that refer to it", API).isEmpty();
    }

    @Test
    void theScanSeesAReferenceWhenThereIsOne() throws Exception {
        // The API's own wiring refers to its package: the scan must find that, or it proves nothing.
        Path wiring = classesRoot().resolve(API + "ApiWiring.class");
        assertThat(refersTo(wiring, API)).isTrue();
        assertThat(refersTo(classesRoot().resolve("dev/reftserver/error/ServiceException.class"), API)).isFalse();
    }

    private static boolean refersTo(Path classFile, String packagePath) throws IOException {
        // Constant-pool strings are modified UTF-8, identical to ASCII for package paths.
        String text = new String(Files.readAllBytes(classFile), StandardCharsets.ISO_8859_1);
        return text.contains(packagePath);
    }

    private static Path classesRoot() throws URISyntaxException {
        return Path.of(ReftServerApplication.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }
}

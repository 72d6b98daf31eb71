package dev.reftserver.api;

import java.nio.file.Path;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The shared server of the end-to-end serving tests (uploads, completions, streaming and concurrency over real
 * HTTP), on a store directory fresh per JVM.
 */
abstract class ServingTestSupport extends ServingTestBase {

    static final Path STORE = storeDir("serving");

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }
}

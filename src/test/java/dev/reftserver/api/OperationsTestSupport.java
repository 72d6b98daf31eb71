package dev.reftserver.api;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One running server for the operations tests (API docs, metrics): the real bundle validator, an admin key, and
 * an embedded store in a temp dir. Ops endpoints are called without any key, as a scraper or a browser would.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "reft.security.admin-key=" + OperationsTestSupport.ADMIN_KEY)
abstract class OperationsTestSupport {

    static final String ADMIN_KEY = "ops-admin-key";

    private static final Path STORE = SecuredApiTestSupport.tempDir();

    @DynamicPropertySource
    static void storeDir(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    Http http() {
        return new Http(port);
    }

    JsonNode json(HttpResponse<String> r) {
        return json.readTree(r.body());
    }
}

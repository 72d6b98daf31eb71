package dev.reftserver.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import dev.reftserver.tenant.RateLimiter;
import dev.reftserver.tenant.TenantPrincipal;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One running server (embedded store in a temp dir, admin key set, 64 KB uploads) shared by the web tests of
 * tenants, isolation and limits. Each test makes its own tenants, so tests never see each other's data.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + SecuredApiTestSupport.ADMIN_KEY,
        "reft.registry.max-upload-bytes=64KB"})
@Import({RegistryTestBeans.class, SecuredApiTestSupport.AdmissionEndpoint.class})
abstract class SecuredApiTestSupport {

    static final String ADMIN_KEY = "test-admin-key";

    /**
     * Admits a request the way the completions endpoint does, so rate limits can be seen over HTTP. Nested in a
     * test class so that no other application context's component scan picks it up.
     */
    @RestController
    static class AdmissionEndpoint {

        private final RateLimiter limiter;

        AdmissionEndpoint(RateLimiter limiter) {
            this.limiter = limiter;
        }

        @PostMapping("/v1/test/admission")
        Map<String, String> admit(@AuthenticationPrincipal TenantPrincipal caller,
                @RequestParam(defaultValue = "0") long tokens) {
            limiter.checkRequest(caller.tenant());
            limiter.checkTokens(caller.tenant());
            limiter.recordTokens(caller.tenant(), tokens);
            return Map.of("tenant", caller.tenant());
        }

        /** Streams its caller's tenant back as SSE from another thread, the way completions stream. */
        @GetMapping("/v1/test/stream")
        SseEmitter stream(@AuthenticationPrincipal TenantPrincipal caller) {
            SseEmitter emitter = new SseEmitter();
            new Thread(() -> {
                try {
                    emitter.send(SseEmitter.event().data(caller.tenant()));
                    emitter.send(SseEmitter.event().data("[DONE]"));
                    emitter.complete();
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            }).start();
            return emitter;
        }
    }

    private static final Path STORE = tempDir();

    @DynamicPropertySource
    static void storeDir(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    static Path tempDir() {
        try {
            return Files.createTempDirectory("reft-api-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    Http http() {
        return new Http(port);
    }

    /** A fresh tenant; returns its first key. */
    String newTenant(String name) {
        return newTenant(name, "");
    }

    String newTenant(String name, String extraJson) {
        HttpResponse<String> r = http().post("/admin/tenants", ADMIN_KEY,
                "{\"name\":\"" + name + "\"" + extraJson + "}");
        if (r.statusCode() != 201) {
            throw new IllegalStateException("cannot create tenant " + name + ": " + r.body());
        }
        return json(r).get("api_key").asString();
    }

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    JsonNode json(HttpResponse<String> r) {
        return json.readTree(r.body());
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.registry.EmbeddedStore;
import dev.reftserver.registry.InterventionResolver;
import dev.reftserver.registry.RateLimits;
import dev.reftserver.registry.RegistryStore;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.json.JsonMapper;

/** No admin key and an empty store: open single-tenant mode, until the store holds a tenant. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@Import(RegistryTestBeans.class)
class OpenModeApiTest {

    private static final Path STORE = SecuredApiTestSupport.tempDir();

    @DynamicPropertySource
    static void storeDir(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;
    @Autowired
    JsonMapper json;
    @Autowired
    RegistryStore store;
    @Autowired
    InterventionResolver resolver;

    @Autowired
    ApplicationContext context;

    @Test
    void startsWithNoDatabaseAtAll() {
        assertThat(context.getBeanProvider(DataSource.class).getIfAvailable()).isNull();
        assertThat(store).isInstanceOf(EmbeddedStore.class);
    }

    @Test
    void servesEveryCallAsTheDefaultTenantUntilATenantExists() {
        Http http = new Http(port);
        HttpResponse<String> up = http.upload(null, "b.zip", Http.zip("x"), Map.of("name", "sent"));
        assertThat(up.statusCode()).isEqualTo(201);
        assertThat(store.versions("default")).hasSize(1);
        assertThat(http.get("/v1/interventions", null).statusCode()).isEqualTo(200);
        assertThat(resolver.resolve("default", "sent", null, null).appliedId()).isEqualTo("sent@1");

        HttpResponse<String> admin = http.get("/admin/tenants", null);
        assertThat(admin.statusCode()).isEqualTo(403);
        assertThat(json.readTree(admin.body()).get("error").get("code").asString()).isEqualTo("admin_disabled");
        assertThat(http.get("/admin/tenants", "anything").statusCode()).isEqualTo(403);

        // a tenant in the (shared) store ends open mode at once
        store.createTenant("acme", RateLimits.UNLIMITED);
        HttpResponse<String> closed = http.get("/v1/interventions", null);
        assertThat(closed.statusCode()).isEqualTo(401);
        assertThat(closed.headers().firstValue("WWW-Authenticate")).contains("Bearer");
    }
}

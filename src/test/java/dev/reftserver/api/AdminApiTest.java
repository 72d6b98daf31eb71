package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class AdminApiTest extends SecuredApiTestSupport {

    @Test
    void createsATenantAndShowsItsKeyOnlyOnce() {
        String name = unique("acme");
        HttpResponse<String> created = http().post("/admin/tenants", ADMIN_KEY,
                "{\"name\":\"" + name + "\",\"requests_per_minute\":100}");
        assertThat(created.statusCode()).isEqualTo(201);
        JsonNode body = json(created);
        assertThat(body.get("name").asString()).isEqualTo(name);
        // rk- and 32 random bytes in unpadded base64url
        assertThat(body.get("api_key").asString()).matches("rk-[A-Za-z0-9_-]{43}");
        assertThat(body.get("requests_per_minute").asLong()).isEqualTo(100);
        assertThat(body.get("tokens_per_minute").isNull()).isTrue();

        HttpResponse<String> list = http().get("/admin/tenants", ADMIN_KEY);
        assertThat(list.statusCode()).isEqualTo(200);
        assertThat(json(list).get("object").asString()).isEqualTo("list");
        assertThat(list.body()).contains("\"" + name + "\"").doesNotContain(body.get("api_key").asString());
        assertThat(http().get("/admin/tenants/" + name + "/keys", ADMIN_KEY).body())
                .doesNotContain(body.get("api_key").asString());
    }

    @Test
    void refusesBadAndDuplicateTenantNames() {
        HttpResponse<String> bad = http().post("/admin/tenants", ADMIN_KEY, "{\"name\":\"Acme Corp\"}");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(json(bad).get("error").get("param").asString()).isEqualTo("name");

        String name = unique("dup");
        newTenant(name);
        HttpResponse<String> again = http().post("/admin/tenants", ADMIN_KEY, "{\"name\":\"" + name + "\"}");
        assertThat(again.statusCode()).isEqualTo(409);
        assertThat(json(again).get("error").get("code").asString()).isEqualTo("tenant_exists");

        HttpResponse<String> badLimit = http().post("/admin/tenants", ADMIN_KEY,
                "{\"name\":\"" + unique("lim") + "\",\"tokens_per_minute\":-5}");
        assertThat(badLimit.statusCode()).isEqualTo(400);
        assertThat(json(badLimit).get("error").get("param").asString()).isEqualTo("tokens_per_minute");
    }

    @Test
    void adminCallsNeedTheAdminKey() {
        String tenantKey = newTenant(unique("t"));
        for (String key : new String[] {null, "wrong", tenantKey}) {
            HttpResponse<String> r = http().get("/admin/tenants", key);
            assertThat(r.statusCode()).as("key %s", key).isEqualTo(401);
            assertThat(r.headers().firstValue("WWW-Authenticate")).contains("Bearer");
            JsonNode error = json(r).get("error");
            assertThat(error.get("type").asString()).isEqualTo("invalid_request_error");
            assertThat(error.get("code").asString()).isEqualTo("invalid_api_key");
        }
        assertThat(http().get("/actuator/metrics", null).statusCode()).isEqualTo(401);
        assertThat(http().get("/actuator/metrics", ADMIN_KEY).statusCode()).isEqualTo(200);
    }

    @Test
    void v1CallsNeedATenantKey() {
        HttpResponse<String> none = http().get("/v1/interventions", null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.headers().firstValue("WWW-Authenticate")).contains("Bearer");
        assertThat(json(none).get("error").get("code").asString()).isEqualTo("invalid_api_key");
        assertThat(http().get("/v1/interventions", "rk-not-a-key").statusCode()).isEqualTo(401);
        assertThat(http().get("/v1/interventions", ADMIN_KEY).statusCode()).isEqualTo(401);
    }

    @Test
    void anAuthenticatedStreamRunsToItsEnd() {
        String name = unique("sse");
        HttpResponse<String> r = http().get("/v1/test/stream", newTenant(name));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("data:" + name + "\n\ndata:[DONE]\n\n");
    }

    @Test
    void healthStaysOpenAndPrometheusOnTheServingPortNeedsTheAdminKey() {
        assertThat(http().get("/actuator/health", null).statusCode()).isEqualTo(200);
        assertThat(http().get("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
        assertThat(http().get("/livez", null).statusCode()).isEqualTo(200);
        // Metrics name tenants: with no management port of their own they are the admin's.
        HttpResponse<String> anonymous = http().get("/actuator/prometheus", null);
        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(anonymous.body()).doesNotContain("reft_");
        assertThat(http().get("/actuator/prometheus", newTenant(unique("scraper"))).statusCode()).isEqualTo(401);
        assertThat(http().get("/actuator/prometheus", ADMIN_KEY).statusCode()).isEqualTo(200);
    }

    @Test
    void aDeletedKeyIsRefusedOnItsNextCall() {
        String name = unique("keys");
        String first = newTenant(name);
        HttpResponse<String> second = http().post("/admin/tenants/" + name + "/keys", ADMIN_KEY, "");
        assertThat(second.statusCode()).isEqualTo(201);
        String secondKey = json(second).get("api_key").asString();
        assertThat(http().get("/v1/interventions", first).statusCode()).isEqualTo(200);
        assertThat(http().get("/v1/interventions", secondKey).statusCode()).isEqualTo(200);

        JsonNode keys = json(http().get("/admin/tenants/" + name + "/keys", ADMIN_KEY)).get("data");
        assertThat(keys).hasSize(2);
        String secondId = json(second).get("key_id").asString();
        assertThat(http().delete("/admin/tenants/" + name + "/keys/" + secondId, ADMIN_KEY).statusCode())
                .isEqualTo(204);
        assertThat(http().get("/v1/interventions", secondKey).statusCode()).isEqualTo(401);
        assertThat(http().get("/v1/interventions", first).statusCode()).isEqualTo(200);
    }

    @Test
    void aDeletedTenantsKeysStopWorkingAndItsDataGoes() {
        String name = unique("gone");
        String key = newTenant(name);
        assertThat(http().upload(key, "b.zip", Http.zip("x"), java.util.Map.of()).statusCode()).isEqualTo(201);
        assertThat(http().delete("/admin/tenants/" + name, ADMIN_KEY).statusCode()).isEqualTo(204);
        assertThat(http().get("/v1/interventions", key).statusCode()).isEqualTo(401);
        assertThat(http().delete("/admin/tenants/" + name, ADMIN_KEY).statusCode()).isEqualTo(404);

        String again = newTenant(name);
        assertThat(json(http().get("/v1/interventions", again)).get("data")).isEmpty();
    }

    @Test
    void patchChangesLimitsAndKeepsAbsentOnes() {
        String name = unique("patch");
        newTenant(name, ",\"requests_per_minute\":5,\"tokens_per_minute\":50");
        HttpResponse<String> r = http().patch("/admin/tenants/" + name, ADMIN_KEY, "{\"requests_per_minute\":null}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(json(r).get("requests_per_minute").isNull()).isTrue();
        assertThat(json(r).get("tokens_per_minute").asLong()).isEqualTo(50);
        assertThat(http().patch("/admin/tenants/nobody-here", ADMIN_KEY, "{}").statusCode()).isEqualTo(404);
    }
}

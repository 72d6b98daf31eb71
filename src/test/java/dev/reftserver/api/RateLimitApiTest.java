package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class RateLimitApiTest extends SecuredApiTestSupport {

    private HttpResponse<String> admit(String key, long tokens) {
        return http().post("/v1/test/admission?tokens=" + tokens, key, "");
    }

    @Test
    void refusesRequestsOverTheLimitWithRetryAfterAndLeavesOtherTenantsAlone() {
        String limited = newTenant(unique("rl"), ",\"requests_per_minute\":2");
        String other = newTenant(unique("free"));
        assertThat(admit(limited, 0).statusCode()).isEqualTo(200);
        assertThat(admit(limited, 0).statusCode()).isEqualTo(200);
        HttpResponse<String> refused = admit(limited, 0);
        assertThat(refused.statusCode()).isEqualTo(429);
        // two per minute refill one every 30 s
        assertThat(Long.parseLong(refused.headers().firstValue("Retry-After").orElseThrow())).isBetween(1L, 30L);
        JsonNode error = json(refused).get("error");
        assertThat(error.get("type").asString()).isEqualTo("requests");
        assertThat(error.get("code").asString()).isEqualTo("rate_limit_exceeded");
        for (int i = 0; i < 5; i++) {
            assertThat(admit(other, 0).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void refusesOnceGeneratedTokensExhaustTheBucket() {
        String key = newTenant(unique("tok"), ",\"tokens_per_minute\":10");
        assertThat(admit(key, 15).statusCode()).isEqualTo(200); // admitted with 10 left, then 5 in debt
        HttpResponse<String> refused = admit(key, 0);
        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(json(refused).get("error").get("type").asString()).isEqualTo("tokens");
        // 6 tokens to earn back at 10 per minute: 36 s
        assertThat(Long.parseLong(refused.headers().firstValue("Retry-After").orElseThrow())).isBetween(30L, 36L);
    }

    @Test
    void aLimitChangeAppliesAtOnce() {
        String name = unique("chg");
        String key = newTenant(name, ",\"requests_per_minute\":1");
        assertThat(admit(key, 0).statusCode()).isEqualTo(200);
        assertThat(admit(key, 0).statusCode()).isEqualTo(429);
        assertThat(http().patch("/admin/tenants/" + name, ADMIN_KEY, "{\"requests_per_minute\":null}").statusCode())
                .isEqualTo(200);
        for (int i = 0; i < 5; i++) {
            assertThat(admit(key, 0).statusCode()).isEqualTo(200);
        }
        http().patch("/admin/tenants/" + name, ADMIN_KEY, "{\"requests_per_minute\":1}");
        assertThat(admit(key, 0).statusCode()).isEqualTo(200);
        assertThat(admit(key, 0).statusCode()).isEqualTo(429);
    }
}

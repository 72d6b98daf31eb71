package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.intervention.UploadFixtures;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.registry.BundleCache;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;

/**
 * {@code interventions} on {@code /v1/completions} over HTTP, with reference bundles A and B uploaded by a tenant:
 * resolution with the caller's tenancy, the applied header, scale 0 and scale 1 against the plain routes, and
 * leases that keep every member loaded for the whole request. (The batched math against the sequential
 * reference is CompositionTest's.)
 */
class CompositionApiTest extends ServingTestSupport {

    private static final String PROMPT = "Once upon a time, there was a little girl who";

    @Autowired
    BundleCache<LoadedBundle> cache;

    @Autowired
    CompletionTargets targets;

    @Autowired
    CompletionService completions;

    private void upload(String key, String bundle, String name) {
        JsonNode meta = json.readTree(ReferenceFiles.resource("reference/bundles/" + bundle + "/meta.json").toFile());
        HttpResponse<String> up = http().upload(key, name + ".zip", UploadFixtures.referencePyreftZip(bundle),
                Map.of("name", name, "positions", meta.get("positions").asString(),
                        "share_weights", meta.get("share_weights").asString()));
        assertThat(up.statusCode()).as(up.body()).isEqualTo(201);
    }

    private HttpResponse<String> compose(String key, String interventions) {
        return http().post("/v1/completions", key, ("{\"model\":\"%s\",\"prompt\":\"%s\",\"max_tokens\":24,"
                + "\"temperature\":0,\"interventions\":%s}").formatted(BASE_MODEL, PROMPT, interventions));
    }

    @Test
    void compositionsResolveWithTheCallersTenancyAndScaleAsDocumented() {
        String key = newTenant("compose");
        String other = newTenant("compose-other");
        upload(key, "A", "ref-a");
        upload(key, "B", "ref-b");

        String base = text(complete(key, BASE_MODEL, PROMPT, 24));
        String aAlone = text(complete(key, "ref-a", PROMPT, 24));

        HttpResponse<String> ab = compose(key, "[{\"name\":\"ref-a@1\",\"scale\":1.0},{\"name\":\"ref-b\"}]");
        assertThat(ab.headers().firstValue("X-Reft-Intervention")).contains("ref-a@1;scale=1.0,ref-b@1;scale=1.0");
        assertThat(text(ab)).isNotEqualTo(base).isNotEqualTo(aAlone);

        assertThat(text(compose(key, "[{\"name\":\"ref-a\",\"scale\":1}]"))).isEqualTo(aAlone);
        assertThat(text(compose(key, "[{\"name\":\"ref-a\",\"scale\":0},{\"name\":\"ref-b\",\"scale\":0}]")))
                .isEqualTo(base);
        HttpResponse<String> negative = compose(key, "[{\"name\":\"ref-b\",\"scale\":-0.5}]");
        assertThat(negative.headers().firstValue("X-Reft-Intervention")).contains("ref-b@1;scale=-0.5");
        assertThat(text(negative)).isNotEqualTo(base);

        // Another tenant's names answer exactly as unknown names do.
        HttpResponse<String> foreign = compose(other, "[{\"name\":\"ref-a\"}]");
        HttpResponse<String> unknown = compose(other, "[{\"name\":\"no-such\"}]");
        assertThat(foreign.statusCode()).isEqualTo(404);
        assertThat(json(foreign).get("error").get("param").asString()).isEqualTo("interventions[0].name");
        assertThat(json(foreign).get("error").get("code").asString())
                .isEqualTo(json(unknown).get("error").get("code").asString());
        HttpResponse<String> second = compose(key, "[{\"name\":\"ref-a\"},{\"name\":\"ref-a@7\"}]");
        assertThat(second.statusCode()).isEqualTo(404);
        assertThat(json(second).get("error").get("param").asString()).isEqualTo("interventions[1].name");
    }

    @Test
    void everyMemberStaysLoadedUntilTheRequestEndsEvenWhenTheCacheDropsIt() throws Exception {
        String tenant = unique("compose-lease");
        HttpResponse<String> created = http().post("/admin/tenants", ADMIN_KEY, "{\"name\":\"" + tenant + "\"}");
        assertThat(created.statusCode()).isEqualTo(201);
        String key = json(created).get("api_key").asString();
        upload(key, "A", "lease-a");
        upload(key, "B", "lease-b");
        String request = ("{\"model\":\"%s\",\"prompt\":\"%s\",\"max_tokens\":12,\"temperature\":0,"
                + "\"interventions\":[{\"name\":\"lease-a\"},{\"name\":\"lease-b\",\"scale\":-1}]}")
                .formatted(BASE_MODEL, PROMPT);
        String expected = text(http().post("/v1/completions", key, request));
        CompletionRequest req = json.readValue(request, CompletionRequest.class);
        CompletionTargets.Target target = targets.resolve(tenant, req);
        // One lease covers every member; the request's rows own it and close it once, after the last of them.
        AtomicInteger closes = new AtomicInteger();
        AutoCloseable lease = () -> {
            closes.incrementAndGet();
            target.lease().close();
        };
        CompletionCall call;
        try {
            // Evicted while leased: the values must stay open until the lease goes.
            cache.invalidateAll();
            call = completions.start(tenant, req, target.bundles(), lease, n -> { });
        } catch (RuntimeException e) {
            target.release();
            throw e;
        }
        CompletionResponse r = call.result.get();
        assertThat(r.choices().get(0).text()).isEqualTo(expected);
        assertThat(closes).hasValue(1);
    }
}

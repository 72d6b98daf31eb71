package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.UploadFixtures;
import dev.reftserver.model.ModelShape;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * A small upload naming one tensor set from thousands of interventions is either refused at upload, in the API's
 * error shape, or accepted and then served: never accepted and unservable (the upload and load limits are one).
 */
class ManyInterventionsOverHttpTest extends ServingTestSupport {

    private static final ModelShape STORIES15M = new ModelShape(288, 6);

    @Test
    void anUploadExpandingPastTheLimitIsRefusedAt413AndTheServerServesOn() {
        String key = newTenant("expanding");
        // 4096 rank-8 interventions on one tensor set: 76 MB of parameters from a few KB
        byte[] zip = UploadFixtures.nativeSharingOneTensorSet(STORIES15M, 4096, 8);
        assertThat(zip.length).isLessThan(256 * 1024);

        HttpResponse<String> r = http().upload(key, "many.zip", zip, Map.of("name", "many"));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(413);
        JsonNode error = json(r).get("error");
        assertThat(error.get("code").asString()).isEqualTo("too_large");
        assertThat(error.get("message").asString()).contains("4096 interventions expand to", "limit");
        assertThat(http().get("/v1/interventions/many", key).statusCode()).isEqualTo(404);
        assertThat(text(complete(key, BASE_MODEL, "Once upon a time", 4))).isNotEmpty();
    }

    @Test
    void anUploadOfThousandsOfInterventionsWithinTheLimitIsServed() {
        String key = newTenant("many-served");
        // 4096 rank-1 interventions: 9.5 MB stored, 9.5 MB packed
        byte[] zip = UploadFixtures.nativeSharingOneTensorSet(STORIES15M, 4096, 1);

        HttpResponse<String> up = http().upload(key, "many.zip", zip, Map.of("name", "many"));

        assertThat(up.statusCode()).as(up.body()).isEqualTo(201);
        assertThat(json(up).get("interventions").asInt()).isEqualTo(4096);
        HttpResponse<String> r = complete(key, "many", "Once upon a time", 4);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("X-Reft-Intervention")).contains("many@1");
    }
}

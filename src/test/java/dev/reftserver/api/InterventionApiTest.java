package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.registry.Sha256;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class InterventionApiTest extends SecuredApiTestSupport {

    @Test
    void uploadsAVersionAndDescribesIt() {
        String key = newTenant(unique("up"));
        byte[] zip = Http.zip("one");
        HttpResponse<String> r = http().upload(key, "bundle.zip", zip, Map.of("name", "sent", "positions", "f3+l3"));
        assertThat(r.statusCode()).isEqualTo(201);
        JsonNode v = json(r);
        assertThat(v.get("id").asString()).isEqualTo("sent@1");
        assertThat(v.get("name").asString()).isEqualTo("sent");
        assertThat(v.get("version").asInt()).isEqualTo(1);
        assertThat(v.get("type").asString()).isEqualTo("loreft");
        assertThat(v.get("layers").get(0).asInt()).isEqualTo(2);
        assertThat(v.get("rank").asInt()).isEqualTo(4);
        assertThat(v.get("positions").asString()).isEqualTo("f3+l3");
        assertThat(v.get("bytes").asLong()).isEqualTo(zip.length);
        assertThat(v.get("sha256").asString()).isEqualTo(Sha256.hex(zip));
        assertThat(v.get("created_at").asLong()).isPositive();
        assertThat(r.headers().firstValue("Location")).contains("/v1/interventions/sent/versions/1");

        HttpResponse<String> second = http().upload(key, "bundle.zip", Http.zip("two"), Map.of("name", "sent"));
        assertThat(json(second).get("id").asString()).isEqualTo("sent@2");
        JsonNode versions = json(http().get("/v1/interventions/sent", key));
        assertThat(versions.get("object").asString()).isEqualTo("list");
        assertThat(versions.get("data")).extracting(n -> n.get("id").asString()).containsExactly("sent@1", "sent@2");
        assertThat(json(http().get("/v1/interventions/sent/versions/2", key)).get("sha256").asString())
                .isEqualTo(Sha256.hex(Http.zip("two")));
    }

    @Test
    void namesAnUploadAfterItsFileWhenNoNameIsGiven() {
        String key = newTenant(unique("fn"));
        HttpResponse<String> r = http().upload(key, "My Bundle.v2.zip", Http.zip("x"), Map.of());
        assertThat(r.statusCode()).isEqualTo(201);
        assertThat(json(r).get("id").asString()).isEqualTo("My-Bundle.v2@1");
    }

    @Test
    void refusesBadNamesRejectedBundlesAndOversizedUploads() {
        String key = newTenant(unique("bad"));
        HttpResponse<String> badName = http().upload(key, "b.zip", Http.zip("x"), Map.of("name", "a@b"));
        assertThat(badName.statusCode()).isEqualTo(400);
        assertThat(json(badName).get("error").get("param").asString()).isEqualTo("name");

        HttpResponse<String> notZip = http().upload(key, "b.zip", "not a zip".getBytes(), Map.of("name", "n"));
        assertThat(notZip.statusCode()).isEqualTo(400);
        assertThat(json(notZip).get("error").get("code").asString()).isEqualTo("not_zip");

        byte[] big = new byte[100 * 1024];
        big[0] = 'P';
        big[1] = 'K';
        HttpResponse<String> tooBig = http().upload(key, "big.zip", big, Map.of("name", "big"));
        assertThat(tooBig.statusCode()).isEqualTo(413);
        assertThat(json(tooBig).get("error").get("param").asString()).isEqualTo("bundle");
        assertThat(json(http().get("/v1/interventions", key)).get("data")).isEmpty();
    }

    @Test
    void deletesVersionsAndWholeInterventionsButNotWhileATaskRoutesToThem() {
        String key = newTenant(unique("del"));
        http().upload(key, "b.zip", Http.zip("1"), Map.of("name", "a"));
        http().upload(key, "b.zip", Http.zip("2"), Map.of("name", "a"));
        assertThat(http().put("/v1/tasks/t", key, "{\"intervention\":\"a@2\"}").statusCode()).isEqualTo(200);

        HttpResponse<String> inUse = http().delete("/v1/interventions/a/versions/2", key);
        assertThat(inUse.statusCode()).isEqualTo(409);
        assertThat(json(inUse).get("error").get("message").asString()).contains("'t'");
        assertThat(http().delete("/v1/interventions/a", key).statusCode()).isEqualTo(409);

        assertThat(http().delete("/v1/interventions/a/versions/1", key).statusCode()).isEqualTo(204);
        assertThat(http().get("/v1/interventions/a/versions/1", key).statusCode()).isEqualTo(404);
        assertThat(http().delete("/v1/tasks/t", key).statusCode()).isEqualTo(204);
        assertThat(http().delete("/v1/interventions/a", key).statusCode()).isEqualTo(204);
        assertThat(http().get("/v1/interventions/a", key).statusCode()).isEqualTo(404);
        // numbers are never reused
        assertThat(json(http().upload(key, "b.zip", Http.zip("3"), Map.of("name", "a"))).get("version").asInt())
                .isEqualTo(3);
    }

    @Test
    void definesTasksWithWeightedRoutesPinningBareNamesToTheLatestVersion() {
        String key = newTenant(unique("task"));
        http().upload(key, "b.zip", Http.zip("1"), Map.of("name", "a"));
        http().upload(key, "b.zip", Http.zip("2"), Map.of("name", "a"));
        HttpResponse<String> put = http().put("/v1/tasks/summarize", key,
                "{\"routes\":[{\"intervention\":\"a@1\",\"weight\":90},{\"intervention\":\"a\",\"weight\":10}]}");
        assertThat(put.statusCode()).isEqualTo(200);
        JsonNode task = json(put);
        assertThat(task.get("name").asString()).isEqualTo("summarize");
        assertThat(task.get("routes").get(0).get("intervention").asString()).isEqualTo("a@1");
        assertThat(task.get("routes").get(0).get("weight").asInt()).isEqualTo(90);
        assertThat(task.get("routes").get(1).get("intervention").asString()).isEqualTo("a@2");

        http().upload(key, "b.zip", Http.zip("3"), Map.of("name", "a"));
        assertThat(json(http().get("/v1/tasks/summarize", key)).get("routes").get(1).get("intervention").asString())
                .isEqualTo("a@2");
        assertThat(json(http().get("/v1/tasks", key)).get("data")).hasSize(1);
    }

    @Test
    void refusesTasksWithUnknownRoutesOrBadWeights() {
        String key = newTenant(unique("task"));
        http().upload(key, "b.zip", Http.zip("1"), Map.of("name", "a"));
        HttpResponse<String> unknown = http().put("/v1/tasks/t", key,
                "{\"routes\":[{\"intervention\":\"a@1\",\"weight\":1},{\"intervention\":\"a@7\",\"weight\":1}]}");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(json(unknown).get("error").get("message").asString()).contains("a@7");
        assertThat(http().put("/v1/tasks/t", key, "{\"intervention\":\"b\"}").statusCode()).isEqualTo(404);

        for (String weight : new String[] {"0", "-1", "1.5", "\"x\""}) {
            HttpResponse<String> bad = http().put("/v1/tasks/t", key,
                    "{\"routes\":[{\"intervention\":\"a@1\",\"weight\":" + weight + "}]}");
            assertThat(bad.statusCode()).as("weight " + weight).isEqualTo(400);
        }
        assertThat(http().put("/v1/tasks/t", key, "{}").statusCode()).isEqualTo(400);
        assertThat(http().put("/v1/tasks/t", key, "{\"routes\":[]}").statusCode()).isEqualTo(400);
        assertThat(http().get("/v1/tasks/t", key).statusCode()).isEqualTo(404);
    }
}

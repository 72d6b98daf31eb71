package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.reftserver.registry.InterventionResolver;
import dev.reftserver.registry.ModelNotFoundException;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * Tenant B's view of tenant A's names: every answer must be byte for byte what B gets once A's names are gone,
 * i.e. exactly what unknown names get.
 */
class TenantIsolationTest extends SecuredApiTestSupport {

    @Autowired
    InterventionResolver resolver;

    @Test
    void anotherTenantsInterventionsAndTasksAnswerExactlyLikeUnknownNames() {
        String a = unique("a");
        String b = unique("b");
        String keyA = newTenant(a);
        String keyB = newTenant(b);
        assertThat(http().upload(keyA, "b.zip", Http.zip("1"), Map.of("name", "secret")).statusCode())
                .isEqualTo(201);
        assertThat(http().put("/v1/tasks/private", keyA, "{\"intervention\":\"secret@1\"}").statusCode())
                .isEqualTo(200);

        Map<String, String> whileAHasThem = probe(keyB, b);
        // B never sees A's data in listings
        assertThat(whileAHasThem.get("list interventions")).doesNotContain("secret");
        assertThat(whileAHasThem.get("list tasks")).doesNotContain("private");
        // and A's data is untouched by B's attempts
        assertThat(http().get("/v1/interventions/secret", keyA).statusCode()).isEqualTo(200);
        assertThat(http().get("/v1/tasks/private", keyA).statusCode()).isEqualTo(200);
        assertThat(json(http().get("/v1/models/secret@1", keyA)).get("kind").asString()).isEqualTo("intervention");
        assertThat(json(http().get("/v1/models/private", keyA)).get("kind").asString()).isEqualTo("task");
        assertThat(whileAHasThem.get("list models")).doesNotContain("secret").doesNotContain("private");

        assertThat(http().delete("/v1/tasks/private", keyA).statusCode()).isEqualTo(204);
        assertThat(http().delete("/v1/interventions/secret", keyA).statusCode()).isEqualTo(204);
        Map<String, String> afterAsAreGone = probe(keyB, b);

        assertThat(whileAHasThem).isEqualTo(afterAsAreGone);
        assertThat(whileAHasThem.get("get intervention")).startsWith("404 ");
        assertThat(whileAHasThem.get("route task to it")).startsWith("404 ");
        assertThat(whileAHasThem.get("resolve model")).contains("model_not_found");
        assertThat(whileAHasThem.get("get model version")).startsWith("404 ").contains("model_not_found");
    }

    @Test
    void aTenantDeletesItsOwnModelsThroughTheModelsApiButNotTheBaseModel() {
        String key = newTenant(unique("d"));
        assertThat(http().upload(key, "b.zip", Http.zip("1"), Map.of("name", "gone")).statusCode()).isEqualTo(201);
        assertThat(http().upload(key, "b.zip", Http.zip("2"), Map.of("name", "gone")).statusCode()).isEqualTo(201);
        assertThat(http().put("/v1/tasks/routed", key, "{\"intervention\":\"gone@2\"}").statusCode())
                .isEqualTo(200);

        HttpResponse<String> deleted = http().delete("/v1/models/gone@1", key);
        assertThat(deleted.statusCode()).as(deleted.body()).isEqualTo(200);
        assertThat(json(deleted).get("id").asString()).isEqualTo("gone@1");
        assertThat(json(deleted).get("deleted").asBoolean()).isTrue();
        assertThat(http().get("/v1/interventions/gone/versions/1", key).statusCode()).isEqualTo(404);
        assertThat(http().get("/v1/models/gone@1", key).statusCode()).isEqualTo(404);
        assertThat(http().delete("/v1/models/gone@1", key).statusCode()).isEqualTo(404);
        // a version a task routes to stays, as through the interventions API
        assertThat(http().delete("/v1/models/gone@2", key).statusCode()).isEqualTo(409);
        assertThat(json(http().delete("/v1/models/routed", key)).get("deleted").asBoolean()).isTrue();
        assertThat(http().get("/v1/tasks/routed", key).statusCode()).isEqualTo(404);
        assertThat(http().delete("/v1/models/gone@2", key).statusCode()).isEqualTo(200);

        String baseModel = json(http().get("/v1/models", key)).get("data").get(0).get("id").asString();
        HttpResponse<String> base = http().delete("/v1/models/" + baseModel, key);
        assertThat(base.statusCode()).as(base.body()).isEqualTo(403);
        assertThat(json(base).get("error").get("code").asString()).isEqualTo("model_not_deletable");
        assertThat(http().get("/v1/models/" + baseModel, key).statusCode()).isEqualTo(200);
    }

    @Test
    void tenantsNumberTheirOwnVersionsOfOneName() {
        String keyA = newTenant(unique("a"));
        String keyB = newTenant(unique("b"));
        http().upload(keyA, "b.zip", Http.zip("1"), Map.of("name", "shared"));
        http().upload(keyA, "b.zip", Http.zip("2"), Map.of("name", "shared"));
        HttpResponse<String> mine = http().upload(keyB, "b.zip", Http.zip("3"), Map.of("name", "shared"));
        assertThat(json(mine).get("id").asString()).isEqualTo("shared@1");
        assertThat(json(http().get("/v1/interventions", keyB)).get("data")).hasSize(1);
    }

    /** Everything B can try on A's names: status and exact body of each. */
    private Map<String, String> probe(String keyB, String tenantB) {
        Map<String, String> out = new LinkedHashMap<>();
        Function<HttpResponse<String>, String> s = r -> r.statusCode() + " " + r.body();
        out.put("list interventions", s.apply(http().get("/v1/interventions", keyB)));
        out.put("get intervention", s.apply(http().get("/v1/interventions/secret", keyB)));
        out.put("get version", s.apply(http().get("/v1/interventions/secret/versions/1", keyB)));
        out.put("delete version", s.apply(http().delete("/v1/interventions/secret/versions/1", keyB)));
        out.put("delete intervention", s.apply(http().delete("/v1/interventions/secret", keyB)));
        out.put("list tasks", s.apply(http().get("/v1/tasks", keyB)));
        out.put("list models", s.apply(http().get("/v1/models", keyB)));
        out.put("get model version", s.apply(http().get("/v1/models/secret@1", keyB)));
        out.put("get model task", s.apply(http().get("/v1/models/private", keyB)));
        out.put("delete model version", s.apply(http().delete("/v1/models/secret@1", keyB)));
        out.put("delete model task", s.apply(http().delete("/v1/models/private", keyB)));
        out.put("get task", s.apply(http().get("/v1/tasks/private", keyB)));
        out.put("delete task", s.apply(http().delete("/v1/tasks/private", keyB)));
        out.put("route task to it", s.apply(http().put("/v1/tasks/mine", keyB,
                "{\"routes\":[{\"intervention\":\"secret@1\",\"weight\":1}]}")));
        out.put("route task to latest", s.apply(http().put("/v1/tasks/mine", keyB, "{\"intervention\":\"secret\"}")));
        for (String model : List.of("secret", "secret@1", "private")) {
            ModelNotFoundException e = catchThrowableOfType(ModelNotFoundException.class,
                    () -> resolver.resolve(tenantB, model, null, "user"));
            out.put("resolve model " + model, e == null ? "resolved" : e.code() + " " + e.getMessage());
        }
        ModelNotFoundException e = catchThrowableOfType(ModelNotFoundException.class,
                () -> resolver.resolve(tenantB, "stories15M", "secret", null));
        out.put("resolve intervention", e == null ? "resolved" : e.code() + " " + e.getMessage());
        out.put("resolve model", out.get("resolve model secret"));
        return out;
    }
}

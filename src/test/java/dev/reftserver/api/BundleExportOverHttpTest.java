package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.UploadFixtures;
import dev.reftserver.model.ModelShape;
import dev.reftserver.registry.Sha256;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code GET .../bundle}: the stored bundle byte for byte, and the pyreft directory that uploads back to the very
 * same version and completes the same; scoped to the caller like every intervention lookup.
 */
class BundleExportOverHttpTest extends ServingTestSupport {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @Test
    void exportsTheStoredBundleAndAPyreftDirectoryThatComesBackAsTheSameVersion() {
        String key = newTenant("export");
        HttpResponse<String> up = http().upload(key, "cat.zip", UploadFixtures.referencePyreftZip("D"),
                Map.of("name", "cat", "positions", "f2+l2", "share_weights", "false"));
        assertThat(up.statusCode()).as(up.body()).isEqualTo(201);
        String sha = json(up).get("sha256").asString();

        HttpResponse<byte[]> nativeZip = http().getBytes("/v1/interventions/cat/versions/1/bundle", key);
        assertThat(nativeZip.statusCode()).isEqualTo(200);
        assertThat(nativeZip.headers().firstValue("Content-Type")).contains("application/zip");
        assertThat(nativeZip.headers().firstValue("Content-Disposition"))
                .contains("attachment; filename=\"cat@1.zip\"");
        assertThat(Sha256.hex(nativeZip.body())).isEqualTo(sha);
        assertThat(http().getBytes("/v1/interventions/cat/versions/1/bundle?format=native", key).body())
                .isEqualTo(nativeZip.body());

        HttpResponse<byte[]> pyreft = http().getBytes("/v1/interventions/cat/versions/1/bundle?format=pyreft", key);
        assertThat(pyreft.statusCode()).isEqualTo(200);
        assertThat(pyreft.headers().firstValue("Content-Type")).contains("application/zip");
        assertThat(pyreft.headers().firstValue("Content-Disposition"))
                .contains("attachment; filename=\"cat@1-pyreft.zip\"");
        HttpResponse<String> back = http().upload(key, "cat-back.zip", pyreft.body(),
                Map.of("name", "cat-back", "positions", "f2+l2", "share_weights", "false"));
        assertThat(back.statusCode()).as(back.body()).isEqualTo(201);
        assertThat(json(back).get("sha256").asString()).isEqualTo(sha);

        JsonNode prompts = JSON.readTree(UploadFixtures.class.getResourceAsStream(
                "/reference/bundles/D/reference.json")).get("prompts");
        int compared = 0;
        for (JsonNode p : prompts) {
            String prompt = p.get("text").asString();
            if (prompt.isEmpty() || compared == 3) {
                continue;
            }
            HttpResponse<String> original = complete(key, "cat", prompt, 24);
            HttpResponse<String> reimported = complete(key, "cat-back", prompt, 24);
            assertThat(original.statusCode()).isEqualTo(200);
            assertThat(text(reimported)).as(prompt).isEqualTo(text(original));
            compared++;
        }
        assertThat(compared).isEqualTo(3);
    }

    @ParameterizedTest
    @ValueSource(strings = {"loreft", "direft", "nodireft", "noreft", "consreft", "lobireft"})
    void everyTypeComesBackFromPyreftAsTheSameVersionAndCompletesTheSame(String type) {
        String key = newTenant("export-" + type);
        byte[] nativeZip = UploadFixtures.nativeOfType(type, 17, new ModelShape(288, 6));
        HttpResponse<String> up = http().upload(key, "n.zip", nativeZip, Map.of("name", type));
        assertThat(up.statusCode()).as(up.body()).isEqualTo(201);

        HttpResponse<byte[]> pyreft = http().getBytes("/v1/interventions/" + type + "/bundle?format=pyreft", key);
        assertThat(pyreft.statusCode()).isEqualTo(200);
        HttpResponse<String> back = http().upload(key, "p.zip", pyreft.body(),
                Map.of("name", type + "-back", "positions", "f2+l2", "share_weights", "false"));
        assertThat(back.statusCode()).as(back.body()).isEqualTo(201);
        assertThat(json(back).get("sha256").asString()).isEqualTo(Sha256.hex(nativeZip));
        for (String prompt : new String[] {"Once upon a time", "The little dog ran to the park and"}) {
            assertThat(text(complete(key, type + "-back", prompt, 16))).as(prompt)
                    .isEqualTo(text(complete(key, type, prompt, 16)));
        }
    }

    @Test
    void namesTheLatestVersionOrAnExplicitOne() {
        String key = newTenant("export-latest");
        HttpResponse<String> v1 = http().upload(key, "a.zip", UploadFixtures.referencePyreftZip("D"),
                Map.of("name", "pet", "positions", "f2+l2"));
        HttpResponse<String> v2 = http().upload(key, "a.zip", UploadFixtures.referencePyreftZip("A"),
                Map.of("name", "pet", "positions", "l1"));
        assertThat(json(v2).get("id").asString()).isEqualTo("pet@2");

        HttpResponse<byte[]> latest = http().getBytes("/v1/interventions/pet/bundle", key);
        assertThat(latest.headers().firstValue("Content-Disposition")).contains("attachment; filename=\"pet@2.zip\"");
        assertThat(Sha256.hex(latest.body())).isEqualTo(json(v2).get("sha256").asString());
        HttpResponse<byte[]> first = http().getBytes("/v1/interventions/pet/versions/1/bundle", key);
        assertThat(Sha256.hex(first.body())).isEqualTo(json(v1).get("sha256").asString());
        HttpResponse<byte[]> latestPyreft = http().getBytes("/v1/interventions/pet/bundle?format=pyreft", key);
        assertThat(latestPyreft.headers().firstValue("Content-Disposition"))
                .contains("attachment; filename=\"pet@2-pyreft.zip\"");
    }

    @Test
    void answersAnotherTenantsNamesAsUnknownAndRefusesUnknownFormats() {
        String owner = newTenant("export-owner");
        String other = newTenant("export-other");
        http().upload(owner, "b.zip", UploadFixtures.referencePyreftZip("A"), Map.of("name", "mine", "positions", "l1"));

        for (String path : new String[] {"/v1/interventions/%s/versions/1/bundle",
                "/v1/interventions/%s/versions/1/bundle?format=pyreft", "/v1/interventions/%s/bundle"}) {
            HttpResponse<byte[]> theirs = http().getBytes(path.formatted("mine"), other);
            HttpResponse<byte[]> unknown = http().getBytes(path.formatted("nope"), other);
            assertThat(theirs.statusCode()).isEqualTo(404);
            assertThat(unknown.statusCode()).isEqualTo(404);
            assertThat(body(theirs)).isEqualTo(body(unknown).replace("nope", "mine"));
            assertThat(JSON.readTree(body(theirs)).get("error").get("param").asString()).isEqualTo("name");
        }
        assertThat(http().getBytes("/v1/interventions/mine/versions/2/bundle", owner).statusCode()).isEqualTo(404);

        HttpResponse<byte[]> badFormat = http().getBytes("/v1/interventions/mine/versions/1/bundle?format=onnx", owner);
        assertThat(badFormat.statusCode()).isEqualTo(400);
        JsonNode error = JSON.readTree(body(badFormat)).get("error");
        assertThat(error.get("param").asString()).isEqualTo("format");
        assertThat(error.get("message").asString()).contains("onnx");
        assertThat(http().getBytes("/v1/interventions/mine/bundle?format=", owner).statusCode()).isEqualTo(400);
        assertThat(http().getBytes("/v1/interventions/mine/versions/x/bundle", owner).statusCode()).isEqualTo(400);
    }

    private static String body(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.UploadFixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;

/**
 * Uploads the real importer must refuse, sent over HTTP: each answers 400 (413 for size) in OpenAI's error shape
 * with a message naming the problem, and leaves nothing behind: no listed version and no bundle file in the store.
 */
class RejectedUploadsOverHttpTest extends ServingTestSupport {

    private static final int HIDDEN = 288;
    private static final Path PWNED = STORE.resolveSibling(STORE.getFileName() + "-pwned");

    /** A refused upload: its bytes and what the answer must say. */
    record Refusal(String what, Supplier<byte[]> zip, int status, String code, List<String> messageParts) {

        @Override
        public String toString() {
            return what;
        }
    }

    static Stream<Arguments> refusals() {
        return Stream.of(
                new Refusal("pickle calling os.system", () -> UploadFixtures.pyreftWithForeignGlobal(HIDDEN, "os",
                        "system", "touch " + PWNED), 400, "pickle_global",
                        List.of("'os.system'", UploadFixtures.LOREFT_BIN)),
                new Refusal("zip slip entry ../evil", RejectedUploadsOverHttpTest::zipSlip, 400, "zip_path",
                        List.of("unsafe entry name", "../evil")),
                new Refusal("zip bomb", RejectedUploadsOverHttpTest::zipBomb, 413, "too_large",
                        List.of("config.json", "limit")),
                new Refusal("wrong hidden size", () -> UploadFixtures.pyreftLoreft(1, 256), 400, "shape_mismatch",
                        List.of("hidden size", "256", "288")),
                new Refusal("NaN weight", () -> UploadFixtures.pyreftLoreftWithNan(2, HIDDEN), 400, "non_finite",
                        List.of("'weight'", "NaN", "index 5")),
                new Refusal("rotation not orthonormal", () -> UploadFixtures.pyreftLoreftNotOrthonormal(3, HIDDEN),
                        400, "not_orthonormal", List.of("'rotate'", "layer 1")),
                new Refusal("layer out of range", () -> UploadFixtures.pyreftLoreftAtLayer(4, HIDDEN, 6), 400,
                        "layer_range", List.of("layer 6", "0..5")),
                new Refusal("unknown type", () -> UploadFixtures.pyreftOfType(5, HIDDEN,
                        "BoundlessRotatedSpaceIntervention"), 400, "unknown_type",
                        List.of("BoundlessRotatedSpaceIntervention")))
                .map(Arguments::of);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusals")
    void refusesInOpenAiShapeAndLeavesNothingBehind(Refusal refusal) {
        String key = newTenant("rejected");
        Set<String> filesBefore = bundleFiles();

        HttpResponse<String> r = http().upload(key, "bad.zip", refusal.zip().get(),
                Map.of("name", "bad", "positions", "l1"));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(refusal.status());
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        JsonNode error = json(r).get("error");
        assertThat(error).as(r.body()).isNotNull();
        assertThat(error.get("type").asString()).isEqualTo("invalid_request_error");
        assertThat(error.get("param").asString()).isEqualTo("bundle");
        assertThat(error.get("code").asString()).isEqualTo(refusal.code());
        assertThat(error.get("message").asString()).contains(refusal.messageParts());

        HttpResponse<String> list = http().get("/v1/interventions", key);
        assertThat(list.statusCode()).isEqualTo(200);
        assertThat(json(list).get("data")).isEmpty();
        assertThat(http().get("/v1/interventions/bad", key).statusCode()).isEqualTo(404);
        assertThat(bundleFiles()).isEqualTo(filesBefore);
        assertThat(Files.exists(PWNED)).isFalse();
    }

    @Test
    void theSameTenantCanUploadAValidBundleAfterARefusal() {
        String key = newTenant("rejected-then-ok");
        assertThat(http().upload(key, "bad.zip", UploadFixtures.pyreftLoreftWithNan(6, HIDDEN),
                Map.of("name", "fine", "positions", "l1")).statusCode()).isEqualTo(400);
        HttpResponse<String> ok = http().upload(key, "fine.zip", UploadFixtures.pyreftLoreft(6, HIDDEN),
                Map.of("name", "fine", "positions", "l1"));
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(201);
        // a refused upload takes no version number
        assertThat(json(ok).get("id").asString()).isEqualTo("fine@1");
    }

    /** Every file in the store's bundle directory, temp files included. */
    private static Set<String> bundleFiles() {
        try (Stream<Path> files = Files.list(STORE.resolve("bundles"))) {
            return files.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] zipSlip() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", "{}".getBytes(StandardCharsets.UTF_8));
        files.put("../evil", "x".getBytes(StandardCharsets.UTF_8));
        return UploadFixtures.zip(files);
    }

    /** One entry of 300 MiB of zeros, more than any of the importer's limits; it deflates to about 300 KiB. */
    private static byte[] zipBomb() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] zeros = new byte[1 << 20];
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            zip.putNextEntry(new ZipEntry("config.json"));
            for (int i = 0; i < 300; i++) {
                zip.write(zeros);
            }
            zip.closeEntry();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertThat(out.size()).isLessThan(1 << 20);
        return out.toByteArray();
    }
}

package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;

/** Imports the reference pyreft bundles A, B and D exactly as pyreft saved them. */
class PyreftImportTest {

    static final ModelShape STORIES15M = new ModelShape(288, 6);

    private final BundleImporter importer = new BundleImporter(BundleLimits.defaults());

    static ImportedBundle importReference(BundleImporter importer, String name, String folder) {
        JsonNode meta = Fixtures.json("reference/bundles/" + name + "/meta.json");
        return importer.importZip(Fixtures.pyreftZip(name, folder), STORIES15M, meta.get("positions").stringValue(),
                meta.get("share_weights").booleanValue());
    }

    static ReftBundle readNative(byte[] nativeZip) {
        BundleLimits limits = BundleLimits.defaults();
        return NativeBundleFormat.read(SafeZip.read(nativeZip, limits, ImportBudget.of(limits), "test"), limits,
                "test");
    }

    @ParameterizedTest
    @CsvSource({"A, ''", "B, ''", "D, ''", "A, run-1/", "B, reft_model/", "D, x/"})
    void recoversExactlyThePlainWeights(String name, String folder) {
        ReftBundle bundle = readNative(importReference(importer, name, folder).nativeZip());
        Map<String, FloatTensor> plain = Safetensors.read(
                Fixtures.resource("reference/bundles/" + name + "/plain.safetensors"), "plain", Long.MAX_VALUE);
        JsonNode described = Fixtures.json("reference/bundles/" + name + "/plain_tensors.json").get("interventions");

        assertThat(bundle.interventions()).hasSize(described.size());
        for (JsonNode d : described) {
            Intervention iv = bundle.interventions().get(d.get("index").intValue());
            assertThat(iv.layer()).isEqualTo(d.get("layer").intValue());
            JsonNode t = d.get("tensors");
            Map<String, FloatTensor> mine = iv.tensors();
            if (t.has("R")) {
                assertThat(mine.get("rotate")).isEqualTo(plain.get(t.get("R").get("name").stringValue()));
            } else {
                assertThat(mine.get("proj")).isEqualTo(plain.get(t.get("P").get("name").stringValue()));
            }
            assertThat(mine.get("weight")).isEqualTo(plain.get(t.get("W").get("name").stringValue()));
            assertThat(mine.get("bias")).isEqualTo(plain.get(t.get("b").get("name").stringValue()));
            assertThat(iv.act()).isEqualTo(Activation.LINEAR);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"A", "B", "D"})
    void reproducesThePositionsPyreftIntervenedOnForEveryPrompt(String name) {
        ReftBundle bundle = readNative(importReference(importer, name, "").nativeZip());
        JsonNode prompts = Fixtures.json("reference/bundles/" + name + "/reference.json").get("prompts");
        assertThat(prompts).hasSize(8);
        for (JsonNode prompt : prompts) {
            int length = prompt.get("n_tokens").intValue();
            assertThat(prompt.get("ids")).hasSize(length);
            JsonNode passed = prompt.get("unit_locations_passed");
            assertThat(passed).hasSize(bundle.interventions().size());
            for (int i = 0; i < passed.size(); i++) {
                List<Integer> expected = new ArrayList<>();
                passed.get(i).get(0).forEach(p -> expected.add(p.intValue()));
                if (name.equals("A") && length == 1) {
                    // A was made with pyreft's README convention (position L-1, here 0); l1 clamps a 1-token prompt
                    // to nothing, and the reference's expected output for it is the one without intervention
                    assertThat(expected).containsExactly(0);
                    expected.clear();
                }
                Intervention iv = bundle.interventions().get(i);
                int[] mine = bundle.positions().positions(iv.applyTo(), length);
                assertThat(java.util.Arrays.stream(mine).boxed().toList())
                        .as("%s prompt %s intervention %d", name, prompt.get("name"), i)
                        .containsExactlyElementsOf(expected);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"A, loreft, '3', 1, l1", "B, loreft, '1,3,5', 6, f3+l3", "D, nodireft, '2', 2, f2+l2"})
    void summarisesTheBundle(String name, String type, String layers, int count, String positions) {
        BundleSummary s = importReference(importer, name, "").summary();
        assertThat(s.type()).isEqualTo(type);
        assertThat(s.layers()).containsExactlyElementsOf(
                java.util.Arrays.stream(layers.split(",")).map(Integer::valueOf).toList());
        assertThat(s.rank()).isEqualTo(4);
        assertThat(s.interventions()).isEqualTo(count);
        assertThat(s.positions()).isEqualTo(positions);
        assertThat(s.shareWeights()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"A", "B", "D"})
    void nativeRoundTripKeepsTensorsAndSummary(String name) {
        ImportedBundle fromPyreft = importReference(importer, name, "");
        ImportedBundle again = importer.importZip(fromPyreft.nativeZip(), STORIES15M, null, null);
        assertThat(again.summary()).isEqualTo(fromPyreft.summary());
        assertThat(again.nativeZip()).isEqualTo(fromPyreft.nativeZip());
        ReftBundle a = readNative(fromPyreft.nativeZip());
        ReftBundle b = readNative(again.nativeZip());
        assertThat(b).usingRecursiveComparison().isEqualTo(a);
        for (int i = 0; i < a.interventions().size(); i++) {
            assertThat(b.interventions().get(i).tensors()).isEqualTo(a.interventions().get(i).tensors());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"A", "B", "D"})
    void nativeBundleInsideATopFolderImportsToo(String name) {
        byte[] nativeZip = importReference(importer, name, "").nativeZip();
        BundleLimits limits = BundleLimits.defaults();
        Map<String, byte[]> files = SafeZip.read(nativeZip, limits, ImportBudget.of(limits), "test");
        ImportedBundle again = importer.importZip(Fixtures.zip(files, "bundle/"), STORIES15M, null, null);
        assertThat(again.nativeZip()).isEqualTo(nativeZip);
    }

    /**
     * pyreft's README names the component by its module path; pyvene hooks the same block output, so the bundle is
     * the one saved with {@code block_output}. The state dict file is keyed by the component string as written.
     */
    @ParameterizedTest
    @ValueSource(strings = {"model.layers[3].output", "layers[3].output", "model.layers[3]"})
    void moduleOutputPathOfABlockImportsAsBlockOutput(String component) {
        Map<String, byte[]> files = new java.util.LinkedHashMap<>();
        String oldKey = "layer_3_comp_block_output_unit_pos_nunit_1#0";
        String newKey = "layer_3_comp_" + component + "_unit_pos_nunit_1#0";
        Fixtures.resourceDir("reference/bundles/A/pyreft").forEach((file, bytes) -> {
            if (file.equals("config.json")) {
                String config = new String(bytes, java.nio.charset.StandardCharsets.UTF_8)
                        .replace("\"block_output\"", "\"" + component + "\"").replace(oldKey, newKey);
                files.put(file, config.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } else {
                files.put(file.replace(oldKey, newKey), bytes);
            }
        });
        ImportedBundle renamed = importer.importZip(Fixtures.zip(files), STORIES15M, "l1", false);
        assertThat(renamed.nativeZip()).isEqualTo(importReference(importer, "A", "").nativeZip());
        assertThat(renamed.summary().layers()).containsExactly(3);
    }

    @ParameterizedTest
    @CsvSource({"block_output, 2, 2", "model.layers[5].output, 2, 5", "transformer.h[4].output, 0, 4",
            "h[1], 0, 1", "model.language_model.layers[6].output, 2, 6", "language_model.model.layers[7], 0, 7",
            "model.layers[2].input, 2, -1", "mlp_output, 2, -1", "model.layers[x].output, 2, -1",
            "vision_tower.layers[1].output, 0, -1"})
    void blockOutputLayerReadsPyvenesComponentNames(String component, int layer, int expected) {
        assertThat(PyreftImporter.blockOutputLayer(component, layer)).isEqualTo(expected);
    }

    @org.junit.jupiter.api.Test
    void promptTemplateTravelsInTheNativeBundleAndNeedsExactlyOnePercentS() {
        byte[] pyreft = Fixtures.pyreftZip("A", "");
        ImportedBundle b = importer.importZip(pyreft, STORIES15M, "l1", false, "<|user|>%s</s>\n<|assistant|>\n");
        assertThat(readNative(b.nativeZip()).promptTemplate()).isEqualTo("<|user|>%s</s>\n<|assistant|>\n");
        ImportedBundle again = importer.importZip(b.nativeZip(), STORIES15M, null, null, null);
        assertThat(again.nativeZip()).isEqualTo(b.nativeZip());
        assertThat(readNative(importReference(importer, "A", "").nativeZip()).promptTemplate()).isNull();
        for (String bad : List.of("no slot", "%s and %s")) {
            org.assertj.core.api.Assertions.assertThatThrownBy(
                    () -> importer.importZip(pyreft, STORIES15M, "l1", false, bad))
                    .isInstanceOf(BundleRejectedException.class).hasMessageContaining("exactly one %s");
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> importer.importZip(b.nativeZip(), STORIES15M, null, null, "other %s"))
                .isInstanceOf(BundleRejectedException.class).hasMessageContaining("disagrees");
    }
}

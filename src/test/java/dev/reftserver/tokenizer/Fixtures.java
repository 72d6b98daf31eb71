package dev.reftserver.tokenizer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The reference outputs copied into test resources, and the stories15M tokenizer.bin fetched beside the model. */
final class Fixtures {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private Fixtures() {
    }

    /** models/stories15M/tokenizer.bin from the project root, as scripts/fetch-model.sh puts it. */
    static Path storiesTokenizerBin() {
        Path file = Path.of("models", "stories15M", "tokenizer.bin");
        assertTrue(Files.isRegularFile(file),
                () -> file.toAbsolutePath() + " is missing: run scripts/fetch-model.sh before the tests");
        return file;
    }

    static Llama2cTokenizer storiesLlama2c() {
        return Llama2cTokenizer.load(storiesTokenizerBin(), 32000);
    }

    /** The stories15M Hugging Face model directory (without its weights). */
    static Path storiesHfDir() {
        return resourceDir("/reference/stories15m-hf");
    }

    static Path resourceDir(String name) {
        try {
            return Path.of(Fixtures.class.getResource(name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One row of tokenizer_comparison.json. */
    record ComparisonRow(String text, int[] sentencepiece, String sentencepieceDecode, boolean tokenizerJsonEqual,
                         int[] tokenizerJsonIds, String tokenizerJsonDecode) {

        @Override
        public String toString() {
            return text;
        }
    }

    static List<ComparisonRow> comparisonRows() {
        List<ComparisonRow> rows = new ArrayList<>();
        for (JsonNode row : read("/reference/tokenizer_comparison.json").get("rows").values()) {
            int[] sentencepiece = ids(row.get("sentencepiece"));
            boolean equal = row.get("tokenizer_json_equal").asBoolean();
            rows.add(new ComparisonRow(row.get("text").asString(), sentencepiece,
                    row.get("sentencepiece_decode").asString(), equal,
                    equal ? sentencepiece : ids(row.get("tokenizer_json_ids")),
                    row.get("tokenizer_json_decode").asString()));
        }
        return rows;
    }

    /** One prompt of base/base_reference.json with its greedy continuation. */
    record BasePrompt(String name, String text, int[] ids, int[] greedyIds, String greedyText, String fullText) {

        @Override
        public String toString() {
            return name;
        }
    }

    static List<BasePrompt> basePrompts() {
        List<BasePrompt> prompts = new ArrayList<>();
        for (JsonNode p : read("/reference/base/base_reference.json").get("prompts").values()) {
            JsonNode greedy = p.get("greedy_32");
            prompts.add(new BasePrompt(p.get("name").asString(), p.get("text").asString(), ids(p.get("ids")),
                    ids(greedy.get("ids")), greedy.get("text").asString(), greedy.get("full_text").asString()));
        }
        return prompts;
    }

    private static JsonNode read(String resource) {
        try (InputStream in = Fixtures.class.getResourceAsStream(resource)) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int[] ids(JsonNode array) {
        return array.values().stream().mapToInt(JsonNode::asInt).toArray();
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}

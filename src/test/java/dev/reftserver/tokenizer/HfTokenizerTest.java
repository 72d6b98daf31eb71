package dev.reftserver.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.reftserver.tokenizer.Fixtures.BasePrompt;
import dev.reftserver.tokenizer.Fixtures.ComparisonRow;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HfTokenizerTest {

    private final HfTokenizer tokenizer = HfTokenizer.load(Fixtures.storiesHfDir());

    @AfterAll
    void closeTokenizer() {
        tokenizer.close();
    }

    Stream<ComparisonRow> comparisonRows() {
        return Fixtures.comparisonRows().stream();
    }

    Stream<BasePrompt> basePrompts() {
        return Fixtures.basePrompts().stream();
    }

    @ParameterizedTest
    @MethodSource("comparisonRows")
    void encodesAsRecordedForTokenizerJson(ComparisonRow row) {
        // 33 rows equal sentencepiece; the literal "<s>" row is recorded with HF's own (special-token) ids.
        assertArrayEquals(row.tokenizerJsonIds(), tokenizer.encode(row.text()));
    }

    @Test
    void agreesWithSentencepieceOnAllButTheLiteralSpecialTokenPrompt() {
        long agreeing = Fixtures.comparisonRows().stream()
                .filter(row -> Arrays.equals(row.sentencepiece(), tokenizer.encode(row.text())))
                .count();
        assertEquals(33, agreeing);
    }

    @ParameterizedTest
    @MethodSource("comparisonRows")
    void decodesItsOwnEncodingAsRecorded(ComparisonRow row) {
        assertEquals(row.tokenizerJsonDecode(), tokenizer.decode(tokenizer.encode(row.text())));
    }

    @ParameterizedTest
    @MethodSource("basePrompts")
    void encodesBaseReferencePrompts(BasePrompt prompt) {
        assertArrayEquals(prompt.ids(), tokenizer.encode(prompt.text()));
    }

    @ParameterizedTest
    @MethodSource("basePrompts")
    void decodesGreedyContinuationAloneAndAfterItsPrompt(BasePrompt prompt) {
        assertEquals(prompt.greedyText(), tokenizer.decode(prompt.greedyIds()));
        assertEquals(prompt.fullText(), tokenizer.decode(Fixtures.concat(prompt.ids(), prompt.greedyIds())));
    }

    @Test
    void takesSpecialIdsAndVocabularyFromTheModelDirectory() {
        assertEquals(1, tokenizer.bosId());
        assertEquals(2, tokenizer.eosId());
        assertArrayEquals(new int[] {2}, tokenizer.eosIds());
        assertEquals(32000, tokenizer.vocabSize());
    }

    @Test
    void neverTruncatesLongPrompts() {
        String longText = Fixtures.basePrompts().stream().filter(p -> p.name().equals("long")).findFirst()
                .orElseThrow().text().repeat(6);
        int[] ids = tokenizer.encode(longText);
        assertTrue(ids.length > 800, "got " + ids.length + " ids");
        assertArrayEquals(Fixtures.storiesLlama2c().encode(longText), ids);
    }

    @Test
    void decodesEveryIdSequenceLikeTheLlama2cTokenizer() {
        Llama2cTokenizer llama2c = Fixtures.storiesLlama2c();
        Random random = new Random(7);
        for (int i = 0; i < 400; i++) {
            int[] ids = RandomIds.mixed(random, 1 + random.nextInt(24));
            assertEquals(llama2c.decode(ids), tokenizer.decode(ids), Arrays.toString(ids));
        }
    }

    @Test
    void readsEosListsAndFallsBackToTokenizerConfig(@TempDir Path dir) throws IOException {
        Files.copy(Fixtures.storiesHfDir().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.copy(Fixtures.storiesHfDir().resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
        try (HfTokenizer fromTokenizerConfig = HfTokenizer.load(dir)) {
            assertEquals(1, fromTokenizerConfig.bosId());
            assertEquals(2, fromTokenizerConfig.eosId());
        }
        Files.writeString(dir.resolve("config.json"), "{\"bos_token_id\": null, \"eos_token_id\": [2, 0]}");
        try (HfTokenizer withList = HfTokenizer.load(dir)) {
            assertEquals(1, withList.bosId());
            assertEquals(2, withList.eosId());
            assertArrayEquals(new int[] {2, 0}, withList.eosIds());
        }
        // generation_config.json's EOS ids come first, as transformers' generate() takes them
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [2, 7]}");
        try (HfTokenizer withGeneration = HfTokenizer.load(dir)) {
            assertArrayEquals(new int[] {2, 7}, withGeneration.eosIds());
        }
        // a multimodal config's text_config, when neither file has them at the top
        Files.delete(dir.resolve("generation_config.json"));
        Files.writeString(dir.resolve("config.json"), "{\"text_config\": {\"eos_token_id\": [2, 9]}}");
        try (HfTokenizer multimodal = HfTokenizer.load(dir)) {
            assertArrayEquals(new int[] {2, 9}, multimodal.eosIds());
        }
    }

    @Test
    void rejectsMissingAndCorruptTokenizerJson(@TempDir Path dir) throws IOException {
        TokenizerLoadException missing = assertThrows(TokenizerLoadException.class, () -> HfTokenizer.load(dir));
        assertTrue(missing.getMessage().contains("tokenizer.json"), missing.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        TokenizerLoadException notJson = assertThrows(TokenizerLoadException.class, () -> HfTokenizer.load(dir));
        assertTrue(notJson.getMessage().contains("not valid JSON"), notJson.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\"}}");
        assertThrows(TokenizerLoadException.class, () -> HfTokenizer.load(dir));

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Nonsense\", \"vocab\": {}}}");
        TokenizerLoadException rejected = assertThrows(TokenizerLoadException.class, () -> HfTokenizer.load(dir));
        assertTrue(rejected.getMessage().contains("rejected"), rejected.getMessage());
    }
}

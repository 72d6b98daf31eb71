package dev.reftserver.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.reftserver.tokenizer.Fixtures.BasePrompt;
import dev.reftserver.tokenizer.Fixtures.ComparisonRow;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class Llama2cTokenizerTest {

    private final Llama2cTokenizer tokenizer = Fixtures.storiesLlama2c();

    static Stream<ComparisonRow> comparisonRows() {
        return Fixtures.comparisonRows().stream();
    }

    static Stream<BasePrompt> basePrompts() {
        return Fixtures.basePrompts().stream();
    }

    @ParameterizedTest
    @MethodSource("comparisonRows")
    void encodesLikeSentencepiece(ComparisonRow row) {
        assertArrayEquals(row.sentencepiece(), tokenizer.encode(row.text()));
    }

    @ParameterizedTest
    @MethodSource("comparisonRows")
    void decodesSentencepieceIdsBackToTheText(ComparisonRow row) {
        assertEquals(row.sentencepieceDecode(), tokenizer.decode(row.sentencepiece()));
        assertEquals(row.text(), tokenizer.decode(tokenizer.encode(row.text())));
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
    void readsEveryTokenOfTheFile() {
        assertEquals(32000, tokenizer.vocabSize());
        assertEquals(32000, Llama2cTokenizer.load(Fixtures.storiesTokenizerBin()).vocabSize());
        assertEquals(1, tokenizer.bosId());
        assertEquals(2, tokenizer.eosId());
    }

    @Test
    void keepsByteTokensOutOfPieceLookup() {
        // The npm file stores byte 0x61 (id 100) as "a", the same text as the real piece 29874.
        assertArrayEquals(new int[] {1, 263}, tokenizer.encode("a"));
        assertTrue(tokenizer.isByteToken(100));
        assertFalse(tokenizer.isByteToken(29874));
        assertEquals(100, tokenizer.byteTokenId(0x61));
    }

    @Test
    void omitsBosWhenAsked() {
        assertArrayEquals(new int[] {15043, 3186}, tokenizer.encode("Hello world", false));
        assertArrayEquals(new int[0], tokenizer.encode("", false));
        assertArrayEquals(new int[] {1}, tokenizer.encode(""));
    }

    @Test
    void decodesByteRunsAsUtf8OrOneReplacementPerByte() {
        int e5 = tokenizer.byteTokenId(0xE5);
        int b0 = tokenizer.byteTokenId(0xB0);
        int x8f = tokenizer.byteTokenId(0x8F);
        // 小 is E5 B0 8F.
        assertEquals("a小", tokenizer.decode(new int[] {263, e5, b0, x8f}));
        assertEquals("a\uFFFD\uFFFD", tokenizer.decode(new int[] {263, e5, b0}));
        assertEquals("\uFFFD\uFFFD\uFFFD\uFFFD b",
                tokenizer.decode(new int[] {e5, b0, x8f, tokenizer.byteTokenId(0x80), 289}));
        // Special tokens give no text and do not break a byte run.
        assertEquals("小", tokenizer.decode(new int[] {1, e5, 2, b0, 0, x8f}));
    }

    @Test
    void stripsOnlyTheFirstLeadingSpace() {
        int space = 29871;
        assertEquals("boy", tokenizer.decode(new int[] {8023}));
        assertEquals(" boy", tokenizer.decode(new int[] {space, 8023}));
        assertEquals("a boy", tokenizer.decode(new int[] {1, 263, 8023}));
    }

    @Test
    void rejectsIdsOutsideTheVocabulary() {
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {32000}));
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {-1}));
    }

    @Test
    void readsLlama2cCanonicalFileWithHexByteTokensTheSameWay(@TempDir Path dir) throws IOException {
        Path canonical = dir.resolve("tokenizer.bin");
        Files.write(canonical, canonicalForm(Files.readAllBytes(Fixtures.storiesTokenizerBin())));
        Llama2cTokenizer fromCanonical = Llama2cTokenizer.load(canonical, 32000);
        for (ComparisonRow row : Fixtures.comparisonRows()) {
            assertArrayEquals(row.sentencepiece(), fromCanonical.encode(row.text()), row.text());
            assertEquals(row.sentencepieceDecode(), fromCanonical.decode(row.sentencepiece()), row.text());
        }
        assertEquals(100, fromCanonical.byteTokenId(0x61));
    }

    @Test
    void mergesTheSamePairsAsRunCsRescanLoop() {
        RunCEncoder reference = new RunCEncoder(tokenizer);
        String[] parts = {"a", "b", "e", "t", "h", "the", "ing", " ", "  ", "\n", "\t", "é", "ï", "小", "猫", "🌍",
            "😀", "✓", "Ω", "<s>", "1", "23", ".", ",", "Lily", " once", "zz", "\u200b"};
        Random random = new Random(42);
        for (int i = 0; i < 1500; i++) {
            StringBuilder text = new StringBuilder();
            int n = random.nextInt(30);
            for (int j = 0; j < n; j++) {
                text.append(parts[random.nextInt(parts.length)]);
            }
            String s = text.toString();
            assertArrayEquals(reference.encode(s), tokenizer.encode(s), s);
        }
    }

    @Test
    void rejectsMissingTruncatedAndMalformedFiles(@TempDir Path dir) throws IOException {
        byte[] good = Files.readAllBytes(Fixtures.storiesTokenizerBin());

        TokenizerLoadException missing = assertThrows(TokenizerLoadException.class,
                () -> Llama2cTokenizer.load(dir.resolve("absent.bin"), 32000));
        assertTrue(missing.getMessage().contains("not found"), missing.getMessage());

        Path truncated = dir.resolve("truncated.bin");
        Files.write(truncated, Arrays.copyOf(good, good.length - 5));
        TokenizerLoadException shortFile = assertThrows(TokenizerLoadException.class,
                () -> Llama2cTokenizer.load(truncated, 32000));
        assertTrue(shortFile.getMessage().contains("31999 whole tokens, the model expects 32000"),
                shortFile.getMessage());

        Path exact = dir.resolve("exact.bin");
        Files.write(exact, good);
        TokenizerLoadException tooMany = assertThrows(TokenizerLoadException.class,
                () -> Llama2cTokenizer.load(exact, 31000));
        assertTrue(tooMany.getMessage().contains("follow the 31000 tokens"), tooMany.getMessage());

        Path badLength = dir.resolve("bad-length.bin");
        byte[] corrupted = good.clone();
        // Token 0's length field follows max_token_length (4 bytes) and its score (4 bytes).
        ByteBuffer.wrap(corrupted).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 1_000_000);
        Files.write(badLength, corrupted);
        TokenizerLoadException length = assertThrows(TokenizerLoadException.class,
                () -> Llama2cTokenizer.load(badLength, 32000));
        assertTrue(length.getMessage().contains("token 0 has length 1000000"), length.getMessage());

        Path text = dir.resolve("text.bin");
        Files.writeString(text, "{\"not\": \"a tokenizer\"}");
        assertThrows(TokenizerLoadException.class, () -> Llama2cTokenizer.load(text, 32000));
    }

    /** The npm file with byte tokens renamed to llama2.c's own {@code <0xKK>}; every other entry is kept. */
    private static byte[] canonicalForm(byte[] npm) {
        ByteBuffer in = ByteBuffer.wrap(npm).order(ByteOrder.LITTLE_ENDIAN);
        ByteArrayOutputStream out = new ByteArrayOutputStream(npm.length + 2048);
        ByteBuffer word = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        out.writeBytes(word.putInt(0, in.getInt()).array());
        for (int id = 0; in.hasRemaining(); id++) {
            float score = in.getFloat();
            byte[] piece = new byte[in.getInt()];
            in.get(piece);
            if (id >= 3 && id < 259) {
                piece = String.format("<0x%02X>", id - 3).getBytes(StandardCharsets.US_ASCII);
            }
            out.writeBytes(word.putFloat(0, score).array());
            out.writeBytes(word.putInt(0, piece.length).array());
            out.writeBytes(piece);
        }
        return out.toByteArray();
    }

    /** run.c's encode, line by line: rescan every adjacent pair each round, merge the best (first on ties). */
    private static final class RunCEncoder {

        private final Llama2cTokenizer vocab;
        private final Map<String, Integer> lookup = new HashMap<>();

        RunCEncoder(Llama2cTokenizer vocab) {
            this.vocab = vocab;
            for (int id = vocab.vocabSize() - 1; id >= 3; id--) {
                if (!vocab.isByteToken(id)) {
                    lookup.put(new String(vocab.piece(id), StandardCharsets.UTF_8), id);
                }
            }
        }

        int[] encode(String text) {
            List<Integer> tokens = new ArrayList<>();
            tokens.add(1);
            if (!text.isEmpty()) {
                tokens.add(lookup.get(" "));
            }
            text.codePoints().forEach(cp -> {
                String ch = Character.toString(cp);
                Integer id = lookup.get(ch);
                if (id != null) {
                    tokens.add(id);
                } else {
                    for (byte b : ch.getBytes(StandardCharsets.UTF_8)) {
                        tokens.add(vocab.byteTokenId(b & 0xff));
                    }
                }
            });
            while (true) {
                float bestScore = -1e10f;
                int bestId = -1;
                int bestIdx = -1;
                for (int i = 1; i + 1 < tokens.size(); i++) {
                    if (vocab.isByteToken(tokens.get(i)) || vocab.isByteToken(tokens.get(i + 1))) {
                        continue;
                    }
                    String merged = new String(vocab.piece(tokens.get(i)), StandardCharsets.UTF_8)
                            + new String(vocab.piece(tokens.get(i + 1)), StandardCharsets.UTF_8);
                    Integer id = lookup.get(merged);
                    if (id != null && vocab.score(id) > bestScore) {
                        bestScore = vocab.score(id);
                        bestId = id;
                        bestIdx = i;
                    }
                }
                if (bestIdx == -1) {
                    break;
                }
                tokens.set(bestIdx, bestId);
                tokens.remove(bestIdx + 1);
            }
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}

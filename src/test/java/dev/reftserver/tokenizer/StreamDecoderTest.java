package dev.reftserver.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.reftserver.tokenizer.Fixtures.BasePrompt;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StreamDecoderTest {

    private final Llama2cTokenizer llama2c = Fixtures.storiesLlama2c();
    private final HfTokenizer hf = HfTokenizer.load(Fixtures.storiesHfDir());

    @AfterAll
    void closeTokenizer() {
        hf.close();
    }

    Stream<TextTokenizer> tokenizers() {
        return Stream.of(llama2c, hf);
    }

    Stream<Arguments> promptsPerTokenizer() {
        return tokenizers().flatMap(t -> Fixtures.basePrompts().stream().map(p -> Arguments.of(t, p)));
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("tokenizers")
    void streamsEmojiAndCjkWithoutEverEmittingHalfACharacter(TextTokenizer tokenizer) {
        String text = "Hello 🌍 世界 ✓ 😀😀";
        int[] ids = tokenizer.encode(text);
        List<String> pieces = stream(tokenizer.newStreamDecoder(), ids);
        for (String piece : pieces) {
            assertFalse(piece.contains("\uFFFD"), () -> "emitted a replacement character in " + pieces);
            assertWholeCharacters(piece);
        }
        assertEquals(text, String.join("", pieces));
        assertEquals(tokenizer.decode(ids), String.join("", pieces));
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("tokenizers")
    void emitsEachWordAsSoonAsItsTokenArrives(TextTokenizer tokenizer) {
        // [BOS, "▁Hello", "▁world"]: BOS has no text; the leading space of the first word is the dummy prefix.
        List<String> pieces = stream(tokenizer.newStreamDecoder(), new int[] {1, 15043, 3186});
        assertEquals(List.of("", "Hello", " world", ""), pieces);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("tokenizers")
    void holdsByteTokensUntilTheRunEnds(TextTokenizer tokenizer) {
        // "▁a", then 🌍 as byte tokens F0 9F 8C 8D, then "▁b".
        int[] ids = {263, 3 + 0xF0, 3 + 0x9F, 3 + 0x8C, 3 + 0x8D, 289};
        List<String> pieces = stream(tokenizer.newStreamDecoder(), ids);
        assertEquals(List.of("a", "", "", "", "", "🌍 b", ""), pieces);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("tokenizers")
    void flushesAnIncompleteCharacterAsReplacement(TextTokenizer tokenizer) {
        TextTokenizer.StreamDecoder decoder = tokenizer.newStreamDecoder();
        assertEquals("a", decoder.next(263));
        assertEquals("", decoder.next(3 + 0xE4));
        assertEquals("", decoder.next(3 + 0xB8));
        assertEquals("\uFFFD\uFFFD", decoder.flush());
        assertEquals("", decoder.flush());
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("promptsPerTokenizer")
    void continuesThePromptTextWhenPrimedWithIt(TextTokenizer tokenizer, BasePrompt prompt) {
        String promptText = tokenizer.decode(prompt.ids());
        assertEquals(prompt.text(), promptText);
        String continuation = String.join("", stream(tokenizer.newStreamDecoder(prompt.ids()), prompt.greedyIds()));
        assertEquals(prompt.fullText(), promptText + continuation);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("promptsPerTokenizer")
    void streamsTheGreedyContinuationAsItsDecode(TextTokenizer tokenizer, BasePrompt prompt) {
        assertEquals(prompt.greedyText(), String.join("", stream(tokenizer.newStreamDecoder(), prompt.greedyIds())));
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("tokenizers")
    void piecesAlwaysAddUpToTheFullDecode(TextTokenizer tokenizer) {
        Random random = new Random(11);
        for (int i = 0; i < 300; i++) {
            int[] context = RandomIds.mixed(random, random.nextInt(8));
            int[] ids = RandomIds.mixed(random, 1 + random.nextInt(40));
            String label = Arrays.toString(context) + " + " + Arrays.toString(ids);
            assertEquals(tokenizer.decode(ids), String.join("", stream(tokenizer.newStreamDecoder(), ids)), label);
            // A context that ends inside a byte run has no stable text: a later byte can rewrite its last bytes.
            if (!endsInsideByteRun(context)) {
                String streamed = String.join("", stream(tokenizer.newStreamDecoder(context), ids));
                assertEquals(tokenizer.decode(Fixtures.concat(context, ids)), tokenizer.decode(context) + streamed,
                        label);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("tokenizers")
    void keepsLongStreamsExact(TextTokenizer tokenizer) {
        Random random = new Random(3);
        int[] ids = RandomIds.mixed(random, 3000);
        assertEquals(tokenizer.decode(ids), String.join("", stream(tokenizer.newStreamDecoder(), ids)));
    }

    private static boolean endsInsideByteRun(int[] ids) {
        for (int i = ids.length - 1; i >= 0; i--) {
            if (ids[i] > 2) {
                return ids[i] < 259;
            }
        }
        return false;
    }

    /** Feeds every id, then flushes; returns each call's text in order. */
    private static List<String> stream(TextTokenizer.StreamDecoder decoder, int[] ids) {
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            pieces.add(decoder.next(id));
        }
        pieces.add(decoder.flush());
        return pieces;
    }

    private static void assertWholeCharacters(String piece) {
        for (int i = 0; i < piece.length(); i++) {
            char c = piece.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertTrue(i + 1 < piece.length() && Character.isLowSurrogate(piece.charAt(i + 1)), piece);
                i++;
            } else {
                assertFalse(Character.isLowSurrogate(c), piece);
            }
        }
    }
}

package dev.reftserver.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link TextTokenizer#tokenBytes}: a token's own bytes, which put together give the text's UTF-8 exactly, even
 * where a character is cut across tokens (byte fallback, byte-level BPE). Checked on a sentencepiece vocabulary as
 * a Hugging Face tokenizer.json and as llama2.c's tokenizer.bin (stories15M's), and on a byte-level BPE vocabulary
 * (src/test/resources/tokenizers/bytelevel-tiny, written by src/test/scripts/make_bytelevel_tokenizer.py with
 * Hugging Face tokenizers).
 */
class TokenBytesTest {

    static final List<String> TEXTS = List.of("Once upon a time", "héllo wörld, ça va?", "世界 and Привет",
            "emoji 🙂🚀 end", "tab\tquote\" back\\slash\nnew line", "  leading spaces");

    static byte[] joined(TextTokenizer t, int[] ids, int from) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = from; i < ids.length; i++) {
            out.writeBytes(t.tokenBytes(ids[i]));
        }
        return out.toByteArray();
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    @Test
    void sentencepieceTokensJoinToTheTextAfterItsDummyPrefix() {
        try (HfTokenizer hf = HfTokenizer.load(Fixtures.storiesHfDir())) {
            Llama2cTokenizer l2c = Fixtures.storiesLlama2c();
            for (TextTokenizer t : List.of(hf, l2c)) {
                for (String text : TEXTS) {
                    int[] ids = t.encode(text);
                    assertThat(ids[0]).isEqualTo(t.bosId());
                    // the encoder writes the dummy prefix's space; decoding drops it again
                    assertThat(utf8(joined(t, ids, 1))).as("%s: %s", t.getClass().getSimpleName(), text)
                            .isEqualTo(" " + text);
                }
                assertThat(t.tokenBytes(t.bosId())).isEmpty();
                assertThat(t.tokenBytes(t.eosId())).isEmpty();
            }
            // a byte-fallback token is its one byte: half of a character its text cannot show
            int[] ids = hf.encode("🙂");
            assertThat(ids.length).isGreaterThan(3);
            assertThat(hf.tokenBytes(ids[ids.length - 1])).containsExactly((byte) 0x82);
            assertThat(hf.decode(new int[] {ids[ids.length - 1]})).isEqualTo("\uFFFD");
        }
    }

    @Test
    void byteLevelTokensJoinToTheTextAndAddedTokensAreTheirText() {
        Path dir = Path.of("src/test/resources/tokenizers/bytelevel-tiny");
        try (HfTokenizer t = HfTokenizer.load(dir)) {
            for (String text : TEXTS) {
                int[] ids = t.encode(text);
                assertThat(utf8(joined(t, ids, 0))).as(text).isEqualTo(text);
            }
            int[] withAdded = t.encode("the <tool> cat");
            assertThat(utf8(joined(t, withAdded, 0))).isEqualTo("the <tool> cat");
            int special = t.specialTokens().get("<|endoftext|>");
            assertThat(t.tokenBytes(special)).isEmpty();
            // 'é' is two byte-level tokens here ('Ã', '©'): each is its own byte
            int[] e = t.encode("é");
            assertThat(e).hasSize(2);
            assertThat(t.tokenBytes(e[0])).containsExactly((byte) 0xC3);
            assertThat(t.tokenBytes(e[1])).containsExactly((byte) 0xA9);
        }
    }
}

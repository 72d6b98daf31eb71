package dev.reftserver.tokenizer;

import java.io.ByteArrayOutputStream;

/**
 * GPT-2's byte-level alphabet, which byte-level BPE vocabularies (GPT-2, Llama 3, Qwen) write their tokens in:
 * the printable bytes 33-126, 161-172 and 174-255 stand for themselves, and the other 68 bytes, in order, for the
 * characters from U+0100 on ({@code bytes_to_unicode} in GPT-2's encoder and in Hugging Face tokenizers).
 */
final class ByteLevel {

    /** The byte each alphabet character stands for, by code point; -1 outside the alphabet. */
    private static final int[] BYTE_OF = new int[256 + 68];

    static {
        java.util.Arrays.fill(BYTE_OF, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
            BYTE_OF[printable ? b : next++] = b;
        }
    }

    private ByteLevel() {
    }

    /**
     * The bytes a token string of this alphabet stands for; a character outside it (which a byte-level vocabulary
     * does not hold) is taken as its own UTF-8.
     */
    static byte[] bytes(String token) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(token.length());
        token.codePoints().forEach(c -> {
            int b = c < BYTE_OF.length ? BYTE_OF[c] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                out.writeBytes(new String(Character.toChars(c)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        });
        return out.toByteArray();
    }
}

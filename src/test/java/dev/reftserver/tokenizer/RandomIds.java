package dev.reftserver.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Random;

/** Id sequences for property tests over the Llama-2 vocabulary, rich in the cases decoders get wrong. */
final class RandomIds {

    private RandomIds() {
    }

    /**
     * Ids drawn from: any id, byte tokens (3..258, so valid and broken UTF-8 runs), the UTF-8 bytes of whole
     * characters, the lone space piece 29871, and the special ids 0, 1, 2.
     */
    static int[] mixed(Random random, int length) {
        int[] ids = new int[length];
        int i = 0;
        while (i < length) {
            int kind = random.nextInt(10);
            if (kind < 4) {
                ids[i++] = random.nextInt(32000);
            } else if (kind < 6) {
                ids[i++] = 3 + random.nextInt(256);
            } else if (kind < 8) {
                String ch = new String(Character.toChars(CHARACTERS[random.nextInt(CHARACTERS.length)]));
                for (byte b : ch.getBytes(StandardCharsets.UTF_8)) {
                    if (i < length) {
                        ids[i++] = 3 + (b & 0xff);
                    }
                }
            } else if (kind < 9) {
                ids[i++] = 29871;
            } else {
                ids[i++] = random.nextInt(3);
            }
        }
        return ids;
    }

    private static final int[] CHARACTERS = {'é', '小', 0x1F30D, 0x1F600, '✓', 'Ω', 0x10FFFF, 0x80};
}

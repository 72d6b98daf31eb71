package dev.reftserver.tokenizer;

import java.util.Arrays;
import java.util.function.Function;
import java.util.function.IntPredicate;

/**
 * Streams text by decoding a short window of recent ids twice, without and with the newest ones, and emitting the
 * difference: the incremental detokenizer of Hugging Face's text-generation-inference and of vLLM. Decoding whole
 * windows keeps every rule of the full decoder (the leading-space strip, byte fallback, byte-level BPE) without
 * restating them per vocabulary, so the pieces always add up to {@code decode(all ids)}.
 */
final class WindowStreamDecoder implements TextTokenizer.StreamDecoder {

    /** Context tokens kept before the first new one when priming with a prompt, as vLLM does. */
    private static final int CONTEXT_TOKENS = 5;

    /** Ids before the window are dropped once this many have piled up. */
    private static final int COMPACT_AFTER = 256;

    private static final String REPLACEMENT = "\uFFFD";

    private final Function<int[], String> decoder;
    private final IntPredicate isByteToken;
    private final IntPredicate isSpecial;
    private int[] ids;
    private int size;
    /** Start of the window: the text of ids before it has been emitted and never changes again. */
    private int prefixOffset;
    /** End of what has been emitted. */
    private int readOffset;
    /** Whether the newest token that has text of its own is a byte token, so a byte run may still grow. */
    private boolean inByteRun;

    /**
     * @param decoder     the tokenizer's full decode
     * @param isByteToken byte-fallback tokens of a sentencepiece-style vocabulary (none for byte-level BPE)
     * @param isSpecial   tokens the decoder skips; they give no text and do not end a byte run
     * @param context     ids whose text is taken as already emitted (the prompt), possibly empty
     */
    WindowStreamDecoder(Function<int[], String> decoder, IntPredicate isByteToken, IntPredicate isSpecial,
                        int[] context) {
        this.decoder = decoder;
        this.isByteToken = isByteToken;
        this.isSpecial = isSpecial;
        this.ids = Arrays.copyOf(context, Math.max(16, context.length * 2));
        this.size = context.length;
        this.readOffset = size;
        int start = Math.max(0, size - CONTEXT_TOKENS);
        // A run of byte tokens (special tokens between them included) decodes as one unit; the window must not
        // start inside one.
        while (start > 0 && !hasText(ids[start]) && !hasText(ids[start - 1])) {
            start--;
        }
        this.prefixOffset = start;
    }

    @Override
    public String next(int id) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
        }
        ids[size++] = id;
        // Byte fallback decodes a run of byte tokens as a whole: its UTF-8 if valid, else one U+FFFD per byte
        // (HF's ByteFallback decoder; skipped special tokens do not end a run). A later byte can still turn a
        // complete character into U+FFFDs, so a run is emitted only once a token with text ends it, or at flush.
        if (hasText(id)) {
            inByteRun = false;
        } else if (isByteToken.test(id)) {
            inByteRun = true;
        }
        return inByteRun ? "" : advance(false);
    }

    private boolean hasText(int id) {
        return !isByteToken.test(id) && !isSpecial.test(id);
    }

    @Override
    public String flush() {
        return advance(true);
    }

    private String advance(boolean atEnd) {
        String emitted = decode(prefixOffset, readOffset);
        String text = decode(prefixOffset, size);
        // A trailing U+FFFD is a character still missing bytes (byte-level BPE splits characters across tokens).
        if (text.length() <= emitted.length() || (!atEnd && text.endsWith(REPLACEMENT))) {
            return "";
        }
        String added = text.substring(emitted.length());
        prefixOffset = readOffset;
        readOffset = size;
        compact();
        return added;
    }

    private String decode(int from, int to) {
        return from == to ? "" : decoder.apply(Arrays.copyOfRange(ids, from, to));
    }

    private void compact() {
        if (prefixOffset < COMPACT_AFTER) {
            return;
        }
        System.arraycopy(ids, prefixOffset, ids, 0, size - prefixOffset);
        size -= prefixOffset;
        readOffset -= prefixOffset;
        prefixOffset = 0;
    }
}

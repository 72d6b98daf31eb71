package dev.reftserver.tokenizer;

/**
 * Text to token ids and back, for one base model's vocabulary.
 *
 * <p>{@link #decode} follows Hugging Face's {@code decode(ids, skip_special_tokens=True)}: special tokens (BOS, EOS,
 * unknown) give no text, and a sentencepiece-style vocabulary drops the one leading space of the decoded text (the
 * dummy prefix). So {@code decode(encode(text))} is {@code text}, and the ids of a continuation decoded on their own
 * lose their first space; use {@link #newStreamDecoder(int[])} to decode a continuation after its prompt.
 */
public interface TextTokenizer {

    /** Encodes a prompt the way the reference does: BOS first where the model uses one, no truncation. */
    int[] encode(String text);

    /**
     * Encodes text that a chat template rendered, as transformers' {@code apply_chat_template(tokenize=True)} does:
     * no BOS is added (a template that wants one writes {@code bos_token} into the text), and the texts of special
     * tokens ({@code <s>}, {@code </s>}...) in the text are those tokens, each text segment between them encoded on
     * its own.
     */
    default int[] encodeRendered(String text) {
        java.util.Map<String, Integer> special = specialTokens();
        java.util.List<Integer> out = new java.util.ArrayList<>();
        int from = 0;
        while (from <= text.length()) {
            int at = -1;
            String found = null;
            for (String s : special.keySet()) {
                int i = text.indexOf(s, from);
                if (i >= 0 && (at < 0 || i < at || (i == at && s.length() > found.length()))) {
                    at = i;
                    found = s;
                }
            }
            String segment = at < 0 ? text.substring(from) : text.substring(from, at);
            if (!segment.isEmpty()) {
                int[] ids = encode(segment);
                for (int k = ids.length > 0 && ids[0] == bosId() ? 1 : 0; k < ids.length; k++) {
                    out.add(ids[k]);
                }
            }
            if (at < 0) {
                break;
            }
            out.add(special.get(found));
            from = at + found.length();
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * The special tokens a chat template may write as text, by their text ({@code "<s>" -> 1}); chat templates see
     * the BOS and EOS texts as {@code bos_token} and {@code eos_token}.
     */
    default java.util.Map<String, Integer> specialTokens() {
        return java.util.Map.of();
    }

    /** The text of a special token id (see {@link #specialTokens()}), or null when it has none. */
    default String specialTokenText(int id) {
        for (java.util.Map.Entry<String, Integer> e : specialTokens().entrySet()) {
            if (e.getValue() == id) {
                return e.getKey();
            }
        }
        return null;
    }

    /**
     * The bytes token {@code id} adds to a decoded text, before the text's own clean-up (a sentencepiece
     * vocabulary's dummy-prefix space dropped at the very start): a byte-fallback or byte-level token's own bytes,
     * which may be part of a multi-byte character, and nothing for a special token that decoding skips. What
     * OpenAI's chat log-probabilities report as a token's {@code bytes}. Null where this tokenizer cannot say.
     */
    default byte[] tokenBytes(int id) {
        return null;
    }

    /** Decodes ids to text; byte tokens that do not form complete UTF-8 become U+FFFD. */
    String decode(int[] ids);

    /** A decoder for one generation stream that never emits half of a multi-byte character. */
    StreamDecoder newStreamDecoder();

    /**
     * A stream decoder whose ids continue {@code contextIds} (the prompt): what it emits is the text those ids add
     * after the context's own text, so a first generated word keeps its leading space and
     * {@code decode(context) + emitted == decode(context + generated)}. The context's text itself is not emitted.
     */
    default StreamDecoder newStreamDecoder(int[] contextIds) {
        StreamDecoder decoder = newStreamDecoder();
        for (int id : contextIds) {
            decoder.next(id);
        }
        return decoder;
    }

    /** The id placed before a prompt, or -1 when the model has none. */
    int bosId();

    /** The id that ends a generation, or -1 when the model has none; the first of {@link #eosIds()}. */
    int eosId();

    /** Every id that ends a generation (some models name several). */
    default int[] eosIds() {
        return eosId() < 0 ? new int[0] : new int[] {eosId()};
    }

    /** Number of ids this tokenizer knows (largest id + 1). */
    int vocabSize();

    /** Incremental detokenizer for one stream: feed ids as they come, get the text that became complete. */
    interface StreamDecoder {

        /** Returns the text completed by this token (possibly empty while a character is still incomplete). */
        String next(int id);

        /** Returns whatever is still held back at the end of the stream (incomplete bytes as U+FFFD). */
        String flush();
    }
}

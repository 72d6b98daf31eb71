package dev.reftserver.tokenizer;

/** Text to token ids and back, for one base model's vocabulary. */
public interface TextTokenizer {

    /** Encodes a prompt the way the reference does: BOS first where the model uses one, no truncation. */
    int[] encode(String text);

    /** Decodes ids to text; byte tokens that do not form complete UTF-8 become U+FFFD. */
    String decode(int[] ids);

    /** A decoder for one generation stream that never emits half of a multi-byte character. */
    StreamDecoder newStreamDecoder();

    int bosId();

    int eosId();

    int vocabSize();

    /** Incremental detokenizer for one stream: feed ids as they come, get the text that became complete. */
    interface StreamDecoder {

        /** Returns the text completed by this token (possibly empty while a character is still incomplete). */
        String next(int id);

        /** Returns whatever is still held back at the end of the stream (incomplete bytes as U+FFFD). */
        String flush();
    }
}

package dev.reftserver.tokenizer;

/** A tokenizer file is missing, unreadable or not in the format its name promises. */
public final class TokenizerLoadException extends IllegalArgumentException {

    public TokenizerLoadException(String message) {
        super(message);
    }

    public TokenizerLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}

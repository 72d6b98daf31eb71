package dev.reftserver.model.checkpoint;

/** A model checkpoint that cannot be loaded: missing, truncated, misshapen or unsupported. Fails start-up. */
public class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}

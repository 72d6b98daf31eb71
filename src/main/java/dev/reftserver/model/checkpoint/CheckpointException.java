package dev.reftserver.model.checkpoint;

/** A model checkpoint that cannot be loaded: missing, truncated, misshapen or unsupported. Fails start-up. */
public class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * {@code path} could not be read: the reason in words (a file that is gone says so: a model reads its checkpoint
     * again after loading, e.g. to train with bfloat16 weights, and the file may have been moved since).
     */
    static CheckpointException unreadable(Object path, java.io.IOException e) {
        String why = e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage();
        return new CheckpointException("cannot read " + path + ": " + why, e);
    }
}

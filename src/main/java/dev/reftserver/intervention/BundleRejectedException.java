package dev.reftserver.intervention;

/**
 * An uploaded bundle failed validation. The message says what and where; {@link #tooLarge()} uploads map to
 * 413, all others to 400. {@link #reason()} is a short stable label for metrics (e.g. {@code pickle_global}).
 */
public class BundleRejectedException extends RuntimeException {

    private final String reason;
    private final boolean tooLarge;

    public BundleRejectedException(String reason, String message) {
        this(reason, message, false);
    }

    public BundleRejectedException(String reason, String message, boolean tooLarge) {
        super(message);
        this.reason = reason;
        this.tooLarge = tooLarge;
    }

    public String reason() {
        return reason;
    }

    public boolean tooLarge() {
        return tooLarge;
    }
}

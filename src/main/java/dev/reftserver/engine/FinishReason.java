package dev.reftserver.engine;

/** Why a row stopped; the first two are OpenAI's {@code finish_reason} values. */
public enum FinishReason {
    /** EOS or a stop string. */
    STOP("stop"),
    /** max_tokens or the model's context reached. */
    LENGTH("length"),
    /** The client went away or cancelled. */
    CANCELLED("cancelled"),
    /** The server-side request timeout passed. */
    TIMEOUT("timeout"),
    /** The engine shut down before the row finished. */
    SHUTDOWN("shutdown"),
    /** The engine failed while running the row. */
    ERROR("error");

    private final String wire;

    FinishReason(String wire) {
        this.wire = wire;
    }

    public String wire() {
        return wire;
    }
}

package dev.reftserver.config;

/** KV-cache settings that cannot work for the model: its message is one line naming the settings to change. */
public final class KvBudgetException extends IllegalArgumentException {

    public KvBudgetException(String message) {
        super(message);
    }
}

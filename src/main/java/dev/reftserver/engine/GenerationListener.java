package dev.reftserver.engine;

/**
 * Receives one row's output. Called on the engine thread: implementations must return at once (hand the data to
 * another thread, never block on a client).
 */
public interface GenerationListener {

    /** Text that became final (never half a character, never part of a stop string). */
    void onText(String delta);

    /**
     * Only for a row that asked for prompt log-probabilities: one entry per prompt token (entry 0, which nothing
     * predicts, is null), once, after the prefill and before any other call.
     */
    default void onPromptLogprobs(TokenLogprobs[] prompt) {
    }

    /**
     * Only for a row that asked for log-probabilities: the token just generated, before the text it completes
     * (which may come with a later token's {@link #onText}, or at the finish).
     */
    default void onTokenLogprobs(TokenLogprobs token) {
    }

    /** The row is done; no call follows. */
    void onFinish(FinishReason reason, int promptTokens, int completionTokens);
}

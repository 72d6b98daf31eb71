package dev.reftserver.engine;

/**
 * Receives one row's output. Called on the engine thread: implementations must return at once (hand the data to
 * another thread, never block on a client).
 */
public interface GenerationListener {

    /** Text that became final (never half a character, never part of a stop string). */
    void onText(String delta);

    /** The row is done; no call follows. */
    void onFinish(FinishReason reason, int promptTokens, int completionTokens);
}

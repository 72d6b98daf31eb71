package dev.reftserver.engine;

import java.util.concurrent.CompletableFuture;

/** Collects one row's text and finish reason (text appended on the engine thread, read after {@link #done}). */
class Collect implements GenerationListener {

    final StringBuffer text = new StringBuffer();
    final CompletableFuture<FinishReason> done = new CompletableFuture<>();
    volatile int completionTokens = -1;

    @Override
    public void onText(String delta) {
        text.append(delta);
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        this.completionTokens = completionTokens;
        done.complete(reason);
    }
}

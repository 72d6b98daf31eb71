package dev.reftserver.config;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** KV-cache settings that cannot hold the model stop start-up with their one-line reason, not a stack. */
class KvBudgetFailureAnalyzer extends AbstractFailureAnalyzer<KvBudgetException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, KvBudgetException cause) {
        return new FailureAnalysis("The KV cache cannot be sized: " + cause.getMessage(),
                "Change reft.engine.kv-cache-memory or reft.engine.max-context as the message says.", cause);
    }
}

package dev.reftserver.config;

import dev.reftserver.model.checkpoint.CheckpointException;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * A base model that cannot be loaded stops start-up with its one-line reason (which names what is supported and the
 * setting to change) instead of a stack of bean-creation wrappers.
 */
class CheckpointFailureAnalyzer extends AbstractFailureAnalyzer<CheckpointException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, CheckpointException cause) {
        return new FailureAnalysis("The base model could not be loaded: " + cause.getMessage(),
                "Change reft.model.path, reft.model.device or reft.model.dtype as the message says.", cause);
    }
}

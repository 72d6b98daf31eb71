package dev.reftserver.api;

import dev.reftserver.config.BaseModel;
import java.util.List;

/** Targets when no registry is wired: only the base model exists. */
final class BaseModelTargets implements CompletionTargets {

    private final BaseModel base;

    BaseModelTargets(BaseModel base) {
        this.base = base;
    }

    @Override
    public Target resolve(String tenant, CompletionRequest request) {
        if (request.intervention() == null && base.id().equals(request.model())) {
            return Target.base();
        }
        String name = request.intervention() != null ? request.intervention() : request.model();
        throw new ApiException(org.springframework.http.HttpStatus.NOT_FOUND, "invalid_request_error",
                request.intervention() != null ? "intervention" : "model", "model_not_found",
                "the model '" + name + "' does not exist");
    }

    @Override
    public List<Listed> listFor(String tenant) {
        return List.of();
    }
}

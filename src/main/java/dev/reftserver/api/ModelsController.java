package dev.reftserver.api;

import dev.reftserver.config.BaseModel;
import dev.reftserver.error.ServiceException;
import dev.reftserver.registry.ModelNotFoundException;
import dev.reftserver.registry.Names;
import dev.reftserver.registry.RegistryStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.ExampleObject;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * OpenAI's models API: the base model, plus the caller's interventions and tasks, listed, retrieved one by one and
 * (what the caller made) deleted.
 */
@RestController
@Tag(name = "Models", description = "OpenAI-compatible model list")
public class ModelsController {

    private final BaseModel base;
    private final CompletionTargets targets;
    private final CallerTenant caller;
    private final RegistryStore store;

    public ModelsController(BaseModel base, CompletionTargets targets, CallerTenant caller, RegistryStore store) {
        this.base = base;
        this.targets = targets;
        this.caller = caller;
        this.store = store;
    }

    @Operation(summary = "List the models the caller can name", description = """
            The base model, then the caller's tasks (kind `task`) and intervention versions (`name@version`, kind \
            `intervention`); each of them is a valid `model` for completions.""")
    @ApiResponse(responseCode = "200", description = "OpenAI's list object", content = @Content(
            mediaType = "application/json", examples = @ExampleObject(value = """
                    {"object": "list", "data": [
                      {"id": "stories15M", "object": "model", "created": 1795674000, "owned_by": "reft-server"},
                      {"id": "summarize", "object": "model", "created": 1795674200, "owned_by": "acme",
                       "parent": "stories15M", "kind": "task"},
                      {"id": "sentiment@1", "object": "model", "created": 1795674100, "owned_by": "acme",
                       "parent": "stories15M", "kind": "intervention"}]}""")))
    @GetMapping("/v1/models")
    public Map<String, Object> list() {
        return Map.of("object", "list", "data", models());
    }

    @Operation(summary = "Describe one model the caller can name", description = """
            The entry `GET /v1/models` lists under that id; 404 (`model_not_found`) for any other, another \
            tenant's included.""")
    @GetMapping("/v1/models/{id}")
    public Map<String, Object> get(@PathVariable String id) {
        return models().stream().filter(m -> id.equals(m.get("id"))).findFirst()
                .orElseThrow(() -> new ModelNotFoundException("model", id));
    }

    @Operation(summary = "Delete one of the caller's models", description = """
            OpenAI's model deletion for what the caller made: an intervention version (`name@version`, as \
            `DELETE /v1/interventions/{name}/versions/{version}`: 409 while a task routes to it) or a task (as \
            `DELETE /v1/tasks/{name}`). The base model cannot be deleted (403); any other id is 404.""")
    @DeleteMapping("/v1/models/{id}")
    public Map<String, Object> delete(@PathVariable String id) {
        Map<String, Object> model = get(id);
        String tenant = caller.tenant();
        boolean deleted = switch (String.valueOf(model.get("kind"))) {
            case "intervention" -> {
                Names.Ref ref = Names.Ref.parse(id);
                yield store.deleteVersion(tenant, ref.name(), ref.version());
            }
            case "task" -> store.deleteTask(tenant, id);
            default -> throw new ServiceException(HttpStatus.FORBIDDEN, "permission_error", "model",
                    "model_not_deletable", "the base model '" + id + "' cannot be deleted");
        };
        if (!deleted) {
            throw new ModelNotFoundException("model", id); // deleted meanwhile
        }
        return Map.of("id", id, "object", "model", "deleted", true);
    }

    /** The base model, then the caller's tasks and intervention versions. */
    private List<Map<String, Object>> models() {
        List<Map<String, Object>> data = new ArrayList<>();
        data.add(Map.of("id", base.id(), "object", "model", "created", base.created(), "owned_by", "reft-server"));
        String tenant = caller.tenant();
        for (CompletionTargets.Listed m : targets.listFor(tenant)) {
            data.add(Map.of("id", m.id(), "object", "model", "created", m.created(), "owned_by", tenant,
                    "parent", base.id(), "kind", m.kind()));
        }
        return data;
    }
}

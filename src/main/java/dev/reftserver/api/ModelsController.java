package dev.reftserver.api;

import dev.reftserver.config.BaseModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code GET /v1/models}: the base model, plus the caller's interventions and tasks. */
@RestController
public class ModelsController {

    private final BaseModel base;
    private final CompletionTargets targets;
    private final CallerTenant caller;

    public ModelsController(BaseModel base, CompletionTargets targets, CallerTenant caller) {
        this.base = base;
        this.targets = targets;
        this.caller = caller;
    }

    @GetMapping("/v1/models")
    public Map<String, Object> list() {
        List<Map<String, Object>> data = new ArrayList<>();
        data.add(Map.of("id", base.id(), "object", "model", "created", base.created(), "owned_by", "reft-server"));
        String tenant = caller.tenant();
        for (CompletionTargets.Listed m : targets.listFor(tenant)) {
            data.add(Map.of("id", m.id(), "object", "model", "created", m.created(), "owned_by", tenant,
                    "parent", base.id(), "kind", m.kind()));
        }
        return Map.of("object", "list", "data", data);
    }
}

package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.registry.Task;
import dev.reftserver.registry.TaskDefinitions;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.tenant.TenantPrincipal;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.ExampleObject;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import java.util.ArrayList;
import java.util.List;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A tenant's tasks: names that route completions to intervention versions by weight. A route given without a
 * version is pinned to the latest version when the task is defined.
 */
@RestController
@RequestMapping("/v1/tasks")
@Tag(name = "Tasks", description = "Names that route the caller's completions to intervention versions by weight")
class TaskController {

    record RouteBody(String intervention, Number weight) {
    }

    /** Either one {@code intervention} or weighted {@code routes}. */
    record TaskBody(String intervention, List<RouteBody> routes) {
    }

    record RouteView(String intervention, int weight) {
    }

    record TaskView(String object, String name, List<RouteView> routes, @JsonProperty("updated_at") long updatedAt) {

        static TaskView of(Task t) {
            return new TaskView("task", t.name(),
                    t.routes().stream().map(r -> new RouteView(r.id(), r.weight())).toList(),
                    t.updatedAt().getEpochSecond());
        }
    }

    private final RegistryStore store;
    private final TaskDefinitions definitions;

    TaskController(RegistryStore store, TaskDefinitions definitions) {
        this.store = store;
        this.definitions = definitions;
    }

    @Operation(summary = "Define or replace a task", description = """
            Either one `intervention` or weighted `routes` (positive integer weights). A route named without a \
            version is pinned to the latest version now. Completions then name the task as their `model`.""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = "application/json", schema = @Schema(implementation = TaskBody.class),
            examples = {
                @ExampleObject(name = "single", value = "{\"intervention\": \"sentiment@2\"}"),
                @ExampleObject(name = "canary", summary = "90/10 split between two versions", value = """
                        {"routes": [{"intervention": "sentiment@1", "weight": 90},
                                    {"intervention": "sentiment@2", "weight": 10}]}""")
            }))
    @ApiResponse(responseCode = "400", description = "Invalid name or routes, or more routes than "
            + "`reft.quotas.routes-per-task`",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "429", description = "A new task past the tenant's `reft.quotas.tasks` "
            + "(code `quota_exceeded`)",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @PutMapping("/{task}")
    TaskView put(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String task,
            @RequestBody TaskBody body) {
        boolean single = body.intervention() != null;
        boolean routed = body.routes() != null;
        if (single == routed) {
            throw ServiceException.invalidRequest(null, "give either 'intervention' or 'routes'");
        }
        List<TaskDefinitions.RouteSpec> specs = new ArrayList<>();
        if (single) {
            specs.add(new TaskDefinitions.RouteSpec(body.intervention(), 1));
        } else {
            for (int i = 0; i < body.routes().size(); i++) {
                RouteBody r = body.routes().get(i);
                if (r == null || r.intervention() == null) {
                    throw ServiceException.invalidRequest("routes[" + i + "].intervention", "each route names an intervention");
                }
                if (!(r.weight() instanceof Integer w) || w <= 0) {
                    throw ServiceException.invalidRequest("routes[" + i + "].weight",
                            "each route needs a positive integer weight");
                }
                specs.add(new TaskDefinitions.RouteSpec(r.intervention(), w));
            }
        }
        return TaskView.of(definitions.define(caller.tenant(), task, specs));
    }

    @Operation(summary = "List the caller's tasks")
    @GetMapping
    ListView<TaskView> list(@AuthenticationPrincipal TenantPrincipal caller) {
        return ListView.of(store.tasks(caller.tenant()).stream().map(TaskView::of).toList());
    }

    @Operation(summary = "Describe one task")
    @GetMapping("/{task}")
    TaskView get(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String task) {
        return store.task(caller.tenant(), task).map(TaskView::of).orElseThrow(() -> notFound(task));
    }

    @Operation(summary = "Delete a task")
    @ApiResponse(responseCode = "204", description = "Deleted")
    @DeleteMapping("/{task}")
    ResponseEntity<Void> delete(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String task) {
        if (!store.deleteTask(caller.tenant(), task)) {
            throw notFound(task);
        }
        return ResponseEntity.noContent().build();
    }

    private static ServiceException notFound(String task) {
        return ServiceException.notFound("task", "task '" + task + "' not found");
    }
}

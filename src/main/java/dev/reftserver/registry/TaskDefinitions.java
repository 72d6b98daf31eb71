package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import java.util.ArrayList;
import java.util.List;

/**
 * Defines tasks from the routes a client names. A route without a version is pinned to the intervention's latest
 * version at definition time, so a later upload never silently changes what a task serves.
 */
public final class TaskDefinitions {

    /** A route as the client wrote it: {@code name[@version]} and a positive weight. */
    public record RouteSpec(String intervention, int weight) {
    }

    private final RegistryStore store;
    private final Quotas quotas;

    public TaskDefinitions(RegistryStore store, Quotas quotas) {
        this.store = store;
        this.quotas = quotas;
    }

    public Task define(String tenant, String task, List<RouteSpec> specs) {
        if (!Names.isIntervention(task)) {
            throw ServiceException.invalidRequest("task", "invalid task name '" + task
                    + "': 1 to 64 of letters, digits, '.', '_', '-', starting with a letter or digit");
        }
        if (specs.isEmpty()) {
            throw ServiceException.invalidRequest("routes", "a task needs at least one route");
        }
        // Before any route is looked up: each costs a store read.
        quotas.checkRoutes(specs.size());
        List<Route> routes = new ArrayList<>();
        for (RouteSpec spec : specs) {
            if (spec.weight() <= 0) {
                throw ServiceException.invalidRequest("weight", "route weights must be positive integers");
            }
            Names.Ref ref = Names.Ref.parse(spec.intervention());
            if (ref == null) {
                throw new UnknownRouteException(String.valueOf(spec.intervention()));
            }
            int version = ref.pinned() ? ref.version()
                    : store.latest(tenant, ref.name()).map(InterventionVersion::version)
                            .orElseThrow(() -> new UnknownRouteException(ref.name()));
            routes.add(new Route(ref.name(), version, spec.weight()));
        }
        return store.putTask(tenant, task, routes);
    }
}

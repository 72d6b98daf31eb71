package dev.reftserver.registry;

import java.time.Instant;
import java.util.List;

/** A tenant's task: a name that routes requests to intervention versions by weight. */
public record Task(String tenant, String name, List<Route> routes, Instant updatedAt) {

    public Task {
        routes = List.copyOf(routes);
    }

    public long totalWeight() {
        return routes.stream().mapToLong(Route::weight).sum();
    }
}

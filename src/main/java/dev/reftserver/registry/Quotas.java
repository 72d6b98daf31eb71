package dev.reftserver.registry;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * {@code reft.quotas.*}: what one tenant may keep and run at once. The stores enforce the registry quotas
 * atomically in their write path, so concurrent writes (from any replica) never overshoot; the tenant layer
 * enforces {@code concurrentRequests} per replica.
 *
 * @param interventions           intervention names with at least one version (429 above)
 * @param versionsPerIntervention live versions of one name (429 above)
 * @param storedBytes             bytes of every live version's bundle together (413 above)
 * @param tasks                   tasks (429 above)
 * @param routesPerTask           routes of one task (400 above: the request itself is too big, no waiting helps)
 * @param concurrentRequests      requests of the tenant in flight at once on one replica (429 above)
 */
@ConfigurationProperties("reft.quotas")
public record Quotas(
        @DefaultValue("1000") int interventions,
        @DefaultValue("100") int versionsPerIntervention,
        @DefaultValue("1GB") DataSize storedBytes,
        @DefaultValue("1000") int tasks,
        @DefaultValue("16") int routesPerTask,
        @DefaultValue("64") int concurrentRequests) {

    /** The defaults above, for stores built outside Spring. */
    public static final Quotas DEFAULTS = new Quotas(1000, 100, DataSize.ofGigabytes(1), 1000, 16, 64);

    public Quotas {
        if (interventions < 1 || versionsPerIntervention < 1 || tasks < 1 || routesPerTask < 1
                || concurrentRequests < 1 || storedBytes == null || storedBytes.toBytes() < 1) {
            throw new IllegalArgumentException("every reft.quotas.* setting must be positive");
        }
    }

    /** @throws QuotaExceededException if a task of {@code routes} routes is over {@link #routesPerTask} */
    void checkRoutes(int routes) {
        if (routes > routesPerTask) {
            throw QuotaExceededException.routes(routes, routesPerTask);
        }
    }

    /**
     * Checks adding a version of {@code bytes} bytes to a tenant that now keeps {@code names} intervention names,
     * {@code versionsOfName} versions of this name (0 for a new name) and {@code storedBytes} bytes.
     */
    void checkNewVersion(String tenant, String name, long names, long versionsOfName, long stored, long bytes) {
        if (versionsOfName == 0 && names >= interventions) {
            throw QuotaExceededException.count(tenant, "interventions", interventions, "reft.quotas.interventions");
        }
        if (versionsOfName >= versionsPerIntervention) {
            throw QuotaExceededException.count(tenant, "versions of '" + name + "'", versionsPerIntervention,
                    "reft.quotas.versions-per-intervention");
        }
        // Overflow-free: both terms are at most Long.MAX_VALUE / 2 for any storage that exists.
        if (stored + bytes > storedBytes.toBytes()) {
            throw QuotaExceededException.bytes(tenant, stored, bytes, storedBytes.toBytes());
        }
    }

    /** Checks creating a task (not replacing one) for a tenant that now has {@code tasks} tasks. */
    void checkNewTask(String tenant, long existing) {
        if (existing >= tasks) {
            throw QuotaExceededException.count(tenant, "tasks", tasks, "reft.quotas.tasks");
        }
    }
}

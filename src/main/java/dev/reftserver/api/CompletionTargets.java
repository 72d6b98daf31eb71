package dev.reftserver.api;

import dev.reftserver.intervention.LoadedBundle;
import java.util.List;

/** Resolves a completion's {@code model} / {@code intervention} fields to what its prefill applies. */
public interface CompletionTargets {

    /**
     * @param appliedId what the {@code X-Reft-Intervention} header reports: {@code name@version} or {@code none}
     * @param bundle    the loaded bundle, or null for the base model
     * @param lease     keeps a cached bundle from being freed while in use: owned by the request's rows once they
     *     are submitted (the engine releases it when the last one finishes), else released by the caller
     */
    record Target(String appliedId, LoadedBundle bundle, AutoCloseable lease) {

        public static Target base() {
            return new Target("none", null, () -> { });
        }

        void release() {
            try {
                lease.close();
            } catch (Exception ignored) {
                // releasing a lease cannot fail in a way the client should see
            }
        }
    }

    Target resolve(String tenant, CompletionRequest request);

    /** What {@code /v1/models} lists for a tenant besides the base model. */
    List<Listed> listFor(String tenant);

    /**
     * @param id      {@code name@version} of an intervention, or a task name
     * @param kind    {@code intervention} or {@code task}
     * @param created seconds since the epoch
     */
    record Listed(String id, String kind, long created) {
    }
}

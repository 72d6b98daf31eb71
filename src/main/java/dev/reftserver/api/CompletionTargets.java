package dev.reftserver.api;

import dev.reftserver.intervention.ScaledBundle;
import java.util.List;

/** Resolves a completion's {@code model} / {@code intervention} / {@code interventions} fields to what its prefill applies. */
public interface CompletionTargets {

    /**
     * @param appliedId what the {@code X-Reft-Intervention} header reports: {@code name@version}, {@code none}, or
     *                  for a composition its members as {@code a@1;scale=1.0,b@3;scale=-0.5}
     * @param bundles   the loaded bundles in the order they apply, with their scales; empty for the base model
     * @param lease     keeps every cached bundle of the target from being freed while in use: owned by the request's
     *     rows once they are submitted (the engine releases it when the last one finishes), else released by the caller
     */
    record Target(String appliedId, List<ScaledBundle> bundles, AutoCloseable lease) {

        public Target {
            bundles = List.copyOf(bundles);
        }

        public static Target base() {
            return new Target("none", List.of(), () -> { });
        }

        void release() {
            try {
                lease.close();
            } catch (Exception ignored) {
                // releasing a lease cannot fail in a way the client should see
            }
        }
    }

    /**
     * What a request names, whichever endpoint it came from.
     *
     * @param model         a task, an intervention or the base model id
     * @param intervention  an intervention named explicitly (overrides {@code model}), or null
     * @param interventions a composition (overrides {@code model}), or null; not together with {@code intervention}
     * @param stickyKey     keeps a task's weighted routing stable for one user (or seed), or null
     */
    record Selection(String model, String intervention, List<InterventionRef> interventions, String stickyKey) {

        static Selection of(CompletionRequest request) {
            // Sticky canaries: the same user (or seed) always takes the same weighted route.
            String sticky = request.user() != null ? request.user()
                    : request.seed() != null ? "seed:" + request.seed() : null;
            return new Selection(request.model(), request.intervention(), request.interventions(), sticky);
        }
    }

    default Target resolve(String tenant, CompletionRequest request) {
        return resolve(tenant, Selection.of(request));
    }

    Target resolve(String tenant, Selection selection);

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

package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.registry.InterventionVersion;
import java.util.List;

/** One intervention version as the API shows it; {@code created_at} in Unix seconds like OpenAI's objects. */
record InterventionView(
        String id,
        String object,
        String name,
        int version,
        String type,
        List<Integer> layers,
        int rank,
        String positions,
        @JsonProperty("share_weights") boolean shareWeights,
        int interventions,
        long bytes,
        String sha256,
        @JsonProperty("created_at") long createdAt) {

    static InterventionView of(InterventionVersion v) {
        return new InterventionView(v.id(), "intervention", v.name(), v.version(), v.summary().type(),
                v.summary().layers(), v.summary().rank(), v.summary().positions(), v.summary().shareWeights(),
                v.summary().interventions(), v.bytes(), v.sha256(), v.createdAt().getEpochSecond());
    }
}

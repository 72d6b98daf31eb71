package dev.reftserver.registry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts bundle uploads by outcome ({@code reft_bundle_uploads_total{outcome}}) and validation failures by
 * {@link dev.reftserver.intervention.BundleRejectedException#reason()}
 * ({@code reft_bundle_validation_failures_total{reason}}). Reasons are short labels fixed in code, so the tag
 * stays bounded.
 */
public final class UploadMetrics {

    /** What became of one upload. */
    public enum Outcome {
        /** Validated and stored as a new version. */
        ACCEPTED,
        /** The bundle failed validation, or was too large. */
        REJECTED,
        /** The request around the bundle was wrong (e.g. an invalid name). */
        INVALID,
        /** Valid, but storing it failed. */
        FAILED;

        String tag() {
            return name().toLowerCase();
        }
    }

    private final MeterRegistry registry;
    private final Map<Outcome, Counter> uploads = new EnumMap<>(Outcome.class);
    private final Map<String, Counter> failures = new ConcurrentHashMap<>();

    public UploadMetrics(MeterRegistry registry) {
        this.registry = registry;
        for (Outcome o : Outcome.values()) {
            uploads.put(o, Counter.builder("reft.bundle.uploads").tag("outcome", o.tag())
                    .description("Bundle uploads, by outcome").register(registry));
        }
    }

    public void accepted() {
        uploads.get(Outcome.ACCEPTED).increment();
    }

    /** A bundle refused: counted as a {@code rejected} upload and as one validation failure of {@code reason}. */
    public void rejected(String reason) {
        uploads.get(Outcome.REJECTED).increment();
        failures.computeIfAbsent(reason, r -> Counter.builder("reft.bundle.validation.failures").tag("reason", r)
                .description("Bundles refused by validation, by reason").register(registry)).increment();
    }

    public void invalid() {
        uploads.get(Outcome.INVALID).increment();
    }

    public void failed() {
        uploads.get(Outcome.FAILED).increment();
    }
}

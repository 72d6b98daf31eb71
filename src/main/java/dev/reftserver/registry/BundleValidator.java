package dev.reftserver.registry;

import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.intervention.ImportedBundle;

/** Checks an uploaded zip against the base model and converts it to the native bundle the store keeps. */
@FunctionalInterface
public interface BundleValidator {

    /**
     * @param positions    pyreft position spec for pyreft uploads (e.g. {@code f5+l5}), or {@code null}
     * @param shareWeights pyreft {@code share_weights}, or {@code null}
     * @param promptTemplate the prompt template the bundle was trained with (one {@code %s}), or {@code null}
     * @throws BundleRejectedException if the upload is not a valid bundle for this model
     */
    ImportedBundle validate(byte[] zip, String positions, Boolean shareWeights, String promptTemplate);

    /** An upload without a prompt template. */
    default ImportedBundle validate(byte[] zip, String positions, Boolean shareWeights) {
        return validate(zip, positions, shareWeights, null);
    }
}

package dev.reftserver.registry;

import dev.reftserver.api.ApiException;
import dev.reftserver.intervention.ImportedBundle;

/** Validates an upload and stores it as the next version of its name. Nothing is visible before validation. */
public final class InterventionUploads {

    private final RegistryStore store;
    private final BundleValidator validator;

    public InterventionUploads(RegistryStore store, BundleValidator validator) {
        this.store = store;
        this.validator = validator;
    }

    /**
     * @param name     the intervention name, or {@code null} to derive it from {@code fileName}
     * @param fileName the upload's file name, or {@code null}
     */
    public InterventionVersion upload(String tenant, String name, String fileName, byte[] zip, String positions,
            Boolean shareWeights) {
        String chosen = name;
        if (chosen == null || chosen.isBlank()) {
            chosen = Names.fromFileName(fileName);
            if (chosen == null) {
                throw ApiException.invalidRequest("name",
                        "name is required when the file name gives none (letters, digits, '.', '_', '-')");
            }
        } else if (!Names.isIntervention(chosen)) {
            throw ApiException.invalidRequest("name", "invalid intervention name '" + chosen
                    + "': 1 to 64 of letters, digits, '.', '_', '-', starting with a letter or digit");
        }
        ImportedBundle bundle = validator.validate(zip, blankToNull(positions), shareWeights);
        return store.addVersion(tenant, chosen, bundle.summary(), bundle.nativeZip());
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}

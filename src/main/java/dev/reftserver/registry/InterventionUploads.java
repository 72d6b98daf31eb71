package dev.reftserver.registry;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.intervention.ImportedBundle;

/**
 * Validates an upload and stores it as the next version of its name. Nothing is visible before validation. Every
 * upload that reaches it is counted by outcome.
 */
public final class InterventionUploads {

    private final RegistryStore store;
    private final BundleValidator validator;
    private final UploadMetrics metrics;

    public InterventionUploads(RegistryStore store, BundleValidator validator, UploadMetrics metrics) {
        this.store = store;
        this.validator = validator;
        this.metrics = metrics;
    }

    /**
     * @param name     the intervention name, or {@code null} to derive it from {@code fileName}
     * @param fileName the upload's file name, or {@code null}
     */
    public InterventionVersion upload(String tenant, String name, String fileName, byte[] zip, String positions,
            Boolean shareWeights) {
        return upload(tenant, name, fileName, zip, positions, shareWeights, null);
    }

    /** @param promptTemplate the prompt template the bundle was trained with (one {@code %s}), or {@code null} */
    public InterventionVersion upload(String tenant, String name, String fileName, byte[] zip, String positions,
            Boolean shareWeights, String promptTemplate) {
        try {
            String chosen = chooseName(name, fileName);
            ImportedBundle bundle = validator.validate(zip, blankToNull(positions), shareWeights,
                    promptTemplate == null || promptTemplate.isEmpty() ? null : promptTemplate);
            InterventionVersion stored = store.addVersion(tenant, chosen, bundle.summary(), bundle.nativeZip());
            metrics.accepted();
            return stored;
        } catch (BundleRejectedException e) {
            metrics.rejected(e.reason());
            throw e;
        } catch (ServiceException e) {
            metrics.invalid();
            throw e;
        } catch (RuntimeException e) {
            metrics.failed();
            throw e;
        }
    }

    private static String chooseName(String name, String fileName) {
        if (name == null || name.isBlank()) {
            String derived = Names.fromFileName(fileName);
            if (derived == null) {
                throw ServiceException.invalidRequest("name",
                        "name is required when the file name gives none (letters, digits, '.', '_', '-')");
            }
            return derived;
        }
        if (!Names.isIntervention(name)) {
            throw ServiceException.invalidRequest("name", "invalid intervention name '" + name
                    + "': 1 to 64 of letters, digits, '.', '_', '-', starting with a letter or digit");
        }
        return name;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}

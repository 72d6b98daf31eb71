package dev.reftserver.intervention;

/**
 * An upload that passed every check, converted to the native {@code reft-bundle/1} zip that the store keeps.
 *
 * @param summary   what it holds
 * @param nativeZip the canonical native bundle bytes (the store persists exactly these)
 */
public record ImportedBundle(BundleSummary summary, byte[] nativeZip) {
}

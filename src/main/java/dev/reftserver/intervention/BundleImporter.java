package dev.reftserver.intervention;

import dev.reftserver.model.ModelShape;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Turns an uploaded zip into a validated native bundle: either a native {@code reft-bundle/1} ({@code reft.json}
 * + {@code weights.safetensors}) or a pyreft save directory ({@code config.json} + {@code intkey_*.bin}), with the
 * files at the zip's root or inside one top folder. Nothing is returned unless every check passed.
 */
public final class BundleImporter {

    private final BundleLimits limits;

    public BundleImporter(BundleLimits limits) {
        this.limits = Objects.requireNonNull(limits, "limits");
    }

    /** The limits it accepts bundles under, which {@link LoadedBundle#load} must be given too. */
    public BundleLimits limits() {
        return limits;
    }

    /**
     * @param zip                the uploaded bytes
     * @param shape              the base model the bundle must fit
     * @param positionsOrNull    pyreft bundles: the positions spec they were trained with ({@code f5+l5}); required
     *                           there. Native bundles carry their own; if given it must agree.
     * @param shareWeightsOrNull pyreft bundles: whether first and last positions share interventions (default
     *                           false). Native bundles carry their own; if given it must agree.
     * @throws BundleRejectedException with the reason and a message saying what and where; {@code tooLarge()} for
     *     uploads over the {@link BundleLimits}
     */
    public ImportedBundle importZip(byte[] zip, ModelShape shape, String positionsOrNull, Boolean shareWeightsOrNull) {
        Objects.requireNonNull(zip, "zip");
        Objects.requireNonNull(shape, "shape");
        if (zip.length > limits.maxZipBytes()) {
            throw new BundleRejectedException("too_large", "upload: " + zip.length + " bytes, more than the limit of "
                    + limits.maxZipBytes(), true);
        }
        ImportBudget budget = ImportBudget.of(limits);
        Map<String, byte[]> files = bundleRoot(SafeZip.read(zip, limits, budget, "upload"));
        ReftBundle bundle;
        String source;
        if (files.containsKey(NativeBundleFormat.MANIFEST)) {
            source = "native bundle";
            bundle = NativeBundleFormat.read(files, limits, source);
            if (positionsOrNull != null && !PositionSpec.parse(positionsOrNull).equals(bundle.positions())) {
                throw new BundleRejectedException("positions", source + ": positions '" + positionsOrNull
                        + "' disagree with the bundle's own '" + bundle.positions() + "'");
            }
            if (shareWeightsOrNull != null && shareWeightsOrNull != bundle.shareWeights()) {
                throw new BundleRejectedException("positions", source + ": share_weights " + shareWeightsOrNull
                        + " disagrees with the bundle's own " + bundle.shareWeights());
            }
        } else if (files.containsKey("config.json")) {
            source = "pyreft bundle";
            if (positionsOrNull == null) {
                throw new BundleRejectedException("positions", source + ": pyreft does not save the prompt positions;"
                        + " give the positions spec it was trained with (e.g. f5+l5)");
            }
            PositionSpec positions = PositionSpec.parse(positionsOrNull);
            boolean share = shareWeightsOrNull != null && shareWeightsOrNull;
            bundle = PyreftImporter.read(files, shape, positions, share, limits, budget);
        } else {
            throw new BundleRejectedException("bundle_format", "upload: neither reft.json (native bundle) nor"
                    + " config.json (pyreft save directory) found at the zip's root or in its one top folder");
        }
        BundleValidator.validate(bundle, shape, limits, source);
        return new ImportedBundle(bundle.summary(), NativeBundleFormat.write(bundle));
    }

    /**
     * The files relative to the bundle's root: the zip root if it holds reft.json or config.json, else the single
     * top folder everything sits in. Finder's {@code __MACOSX/} and {@code .DS_Store} litter is dropped.
     */
    static Map<String, byte[]> bundleRoot(Map<String, byte[]> files) {
        Map<String, byte[]> kept = new LinkedHashMap<>();
        for (Map.Entry<String, byte[]> e : files.entrySet()) {
            String name = e.getKey();
            if (name.startsWith("__MACOSX/") || name.equals(".DS_Store") || name.endsWith("/.DS_Store")) {
                continue;
            }
            kept.put(name, e.getValue());
        }
        if (kept.containsKey(NativeBundleFormat.MANIFEST) || kept.containsKey("config.json")) {
            return kept;
        }
        String top = null;
        for (String name : kept.keySet()) {
            int slash = name.indexOf('/');
            if (slash < 0) {
                return kept;
            }
            String first = name.substring(0, slash + 1);
            if (top == null) {
                top = first;
            } else if (!top.equals(first)) {
                return kept;
            }
        }
        if (top == null) {
            return kept;
        }
        Map<String, byte[]> inner = new LinkedHashMap<>();
        for (Map.Entry<String, byte[]> e : kept.entrySet()) {
            inner.put(e.getKey().substring(top.length()), e.getValue());
        }
        return inner;
    }
}

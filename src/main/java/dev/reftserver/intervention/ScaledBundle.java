package dev.reftserver.intervention;

/**
 * One bundle of a composition with the scale of its edits: each of its interventions turns h into
 * {@code h + scale * (edit(h) - h)}, so 1 is the bundle as trained, 0 leaves h alone and a negative scale pushes
 * the other way.
 */
public record ScaledBundle(LoadedBundle bundle, float scale) {

    public ScaledBundle {
        if (bundle == null) {
            throw new IllegalArgumentException("a composed bundle cannot be null");
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale must be finite, got " + scale);
        }
    }
}

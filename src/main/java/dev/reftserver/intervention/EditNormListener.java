package dev.reftserver.intervention;

/**
 * Receives the relative edit norm {@code ||h' - h|| / ||h||} of every intervened (row, position), for metrics.
 * Only computed when a listener is set: it costs one small device-to-host copy per intervened layer.
 */
@FunctionalInterface
public interface EditNormListener {

    /**
     * @param type         the intervention type ({@code loreft}, ...)
     * @param layer        the block whose output was edited
     * @param relativeNorm {@code ||h' - h|| / ||h||} at one position
     */
    void onEdit(String type, int layer, double relativeNorm);
}

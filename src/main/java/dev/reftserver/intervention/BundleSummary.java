package dev.reftserver.intervention;

import java.util.List;

/**
 * What a validated bundle holds, as the API reports it.
 *
 * @param type         the ReFT type of its interventions (one type per bundle: {@code loreft}, {@code direft}, ...)
 * @param layers       the distinct layers it intervenes on, ascending
 * @param rank         the low rank r
 * @param positions    the prompt positions spec, e.g. {@code f5+l5}
 * @param shareWeights whether first and last positions share one intervention per layer
 * @param interventions how many interventions it holds
 */
public record BundleSummary(
        String type, List<Integer> layers, int rank, String positions, boolean shareWeights, int interventions) {
}

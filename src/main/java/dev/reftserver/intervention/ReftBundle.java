package dev.reftserver.intervention;

import java.util.List;
import java.util.TreeSet;

/**
 * A bundle's content in memory, whatever it was read from: the base model it was made for, its positions and
 * its interventions in pyvene's {@code sorted_keys} order (the order edits at one layer compose in).
 */
record ReftBundle(int hiddenSize, int numLayers, PositionSpec positions, boolean shareWeights,
        List<Intervention> interventions) {

    ReftBundle {
        interventions = List.copyOf(interventions);
    }

    /** The one type of all its interventions ({@link BundleValidator} rejects mixed bundles). */
    ReftType type() {
        return interventions.get(0).type();
    }

    BundleSummary summary() {
        List<Integer> layers = List.copyOf(new TreeSet<>(interventions.stream().map(Intervention::layer).toList()));
        int rank = interventions.stream().mapToInt(Intervention::rank).max().orElse(0);
        return new BundleSummary(type().wireName(), layers, rank, positions.toString(), shareWeights,
                interventions.size());
    }
}

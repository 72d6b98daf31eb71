package dev.reftserver.intervention;

import java.util.List;
import java.util.TreeSet;

/**
 * A bundle's content in memory, whatever it was read from: the base model it was made for, its positions, its
 * interventions in pyvene's {@code sorted_keys} order (the order edits at one layer compose in), and the prompt
 * template it was trained with, if it declares one.
 *
 * @param promptTemplate a pyreft-style prompt with one {@code %s} for the user's message, or null: chat requests to
 *                       the bundle render the last user message into it instead of the model's chat template
 */
record ReftBundle(int hiddenSize, int numLayers, PositionSpec positions, boolean shareWeights,
        List<Intervention> interventions, String promptTemplate) {

    static final String PROMPT_SLOT = "%s";

    ReftBundle {
        interventions = List.copyOf(interventions);
        String problem = promptTemplateProblem(promptTemplate);
        if (problem != null) {
            throw new BundleRejectedException("prompt_template", problem);
        }
    }

    ReftBundle(int hiddenSize, int numLayers, PositionSpec positions, boolean shareWeights,
            List<Intervention> interventions) {
        this(hiddenSize, numLayers, positions, shareWeights, interventions, null);
    }

    ReftBundle withPromptTemplate(String template) {
        return new ReftBundle(hiddenSize, numLayers, positions, shareWeights, interventions, template);
    }

    /** Why a prompt template is unusable, or null when it is fine (or absent). */
    static String promptTemplateProblem(String template) {
        if (template == null) {
            return null;
        }
        int first = template.indexOf(PROMPT_SLOT);
        if (first < 0 || template.indexOf(PROMPT_SLOT, first + 1) >= 0) {
            return "prompt_template must contain exactly one %s (where the user's message goes)";
        }
        return null;
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

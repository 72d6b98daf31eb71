package dev.reftserver.training;

import dev.reftserver.tokenizer.TextTokenizer;
import java.util.Arrays;

/**
 * One supervised example as pyreft's data module makes it ({@code make_multiple_position_supervised_data_module},
 * {@code nonstop=False}): prompt ids = tok(prompt) (BOS + prompt, no template); input ids = tok(prompt +
 * completion) then EOS; labels = input ids with the first len(prompt ids) entries ignored. Interventions edit
 * positions computed on the prompt alone.
 *
 * @param promptLength L, the number of prompt tokens (BOS included)
 */
record TrainingExample(int[] inputIds, int promptLength) {

    static final int IGNORE = -100;

    static TrainingExample of(TextTokenizer tokenizer, String prompt, String completion) {
        int[] promptIds = tokenizer.encode(prompt);
        int[] full = tokenizer.encode(prompt + completion);
        int eos = tokenizer.eosId();
        int[] ids = eos < 0 ? full : Arrays.copyOf(full, full.length + 1);
        if (eos >= 0) {
            ids[full.length] = eos;
        }
        return new TrainingExample(ids, promptIds.length);
    }

    /** {@code input_ids} with prompt positions set to {@link #IGNORE}. */
    int[] labels() {
        int[] labels = inputIds.clone();
        Arrays.fill(labels, 0, Math.min(promptLength, labels.length), IGNORE);
        return labels;
    }

    /** Tokens the loss is taken over (labels at positions 1.. that are not ignored). */
    int labelTokens() {
        return Math.max(0, inputIds.length - Math.max(promptLength, 1));
    }
}

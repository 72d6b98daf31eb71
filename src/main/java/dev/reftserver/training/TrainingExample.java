package dev.reftserver.training;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.Arrays;

/**
 * One supervised example as pyreft's data module makes it ({@code make_multiple_position_supervised_data_module},
 * {@code nonstop=False}): prompt ids = tok(prompt) (BOS + prompt, no template); input ids = tok(prompt +
 * completion) then EOS; labels = input ids with the first len(prompt ids) entries ignored. Interventions edit
 * positions computed on the prompt alone. A chat example's prompt is rendered by the chat template instead
 * ({@link #ofRendered}).
 *
 * @param promptLength L, the number of prompt tokens (BOS included)
 */
record TrainingExample(int[] inputIds, int promptLength) {

    static final int IGNORE = -100;

    static TrainingExample of(TextTokenizer tokenizer, String prompt, String completion) {
        return withEos(tokenizer, tokenizer.encode(prompt + completion), tokenizer.encode(prompt).length);
    }

    /**
     * A chat example: the prompt's ids are the rendered ones, final as the template wrote them (no BOS is added);
     * the completion is tokenized as {@link #of} does, as the continuation of the prompt's text, then EOS. Where
     * the generation prompt ends on a token boundary (a newline or a special token, as common templates' do), the
     * first L ids are exactly the rendered prompt's; otherwise the loss starts at position L, as pyreft's
     * positional mask does for plain examples.
     */
    static TrainingExample ofRendered(TextTokenizer tokenizer, ChatPrompts.Prompt prompt, String completion) {
        return withEos(tokenizer, tokenizer.encodeRendered(prompt.text() + completion), prompt.ids().length);
    }

    private static TrainingExample withEos(TextTokenizer tokenizer, int[] full, int promptLength) {
        int eos = tokenizer.eosId();
        int[] ids = eos < 0 ? full : Arrays.copyOf(full, full.length + 1);
        if (eos >= 0) {
            ids[full.length] = eos;
        }
        return new TrainingExample(ids, promptLength);
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

package dev.reftserver.training;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * An uploaded fine-tuning file, already validated: its examples in file order.
 *
 * @param expiresAt when the file stops existing, or null: kept until deleted
 * @param examples  one per non-blank line
 */
public record TrainingFile(String id, String tenant, String filename, String purpose, long bytes,
        Instant createdAt, Instant expiresAt, List<Example> examples) {

    public TrainingFile {
        examples = List.copyOf(examples);
    }

    /** One line of the file: a prompt to learn a completion after. */
    public sealed interface Example permits Completion, Chat {

        /** The line's number in the file (1-based), for naming it in errors. */
        int line();

        /** The text the loss is taken over. */
        String completion();
    }

    /** A {@code {"prompt", "completion"}} line: the prompt is tokenized as it is. */
    public record Completion(int line, String prompt, String completion) implements Example {
    }

    /**
     * A {@code {"messages": [...]}} line: the prompt is the conversation before its last message, rendered with the
     * model's chat template (with the generation prompt); the completion is that last, assistant, message.
     *
     * @param messages {@code {role, content}} maps as a chat template takes them
     */
    public record Chat(int line, List<Map<String, Object>> messages, String completion) implements Example {

        public Chat {
            messages = List.copyOf(messages);
        }
    }
}

package dev.reftserver.training;

import java.time.Instant;
import java.util.List;

/**
 * An uploaded fine-tuning file, already validated: its (prompt, completion) examples in file order.
 *
 * @param examples each {@code {prompt, completion}}
 */
public record TrainingFile(String id, String tenant, String filename, String purpose, long bytes,
        Instant createdAt, List<String[]> examples) {

    public TrainingFile {
        examples = List.copyOf(examples);
    }
}

package dev.reftserver.training;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * A finished job's results file: OpenAI's CSV of metrics per update ({@code step, train_loss, train_accuracy,
 * valid_loss, valid_mean_token_accuracy}), with the whole validation file's loss and the learning rate after them.
 * With a validation file, {@code valid_*} score the update's batch of it and {@code full_valid_loss} all of it at
 * epochs' ends (empty elsewhere); without one the three are empty.
 */
final class JobResults {

    static final String HEADER = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy,"
            + "full_valid_loss,learning_rate";

    private JobResults() {
    }

    /** One line per metrics event, in update order. */
    static byte[] csv(List<FineTuningJob.Event> events) {
        StringBuilder out = new StringBuilder(HEADER).append('\n');
        for (FineTuningJob.Event e : events) {
            if (e.type().equals("metrics")) {
                Map<String, Object> d = e.data();
                out.append(value(d, "step")).append(',').append(value(d, "train_loss")).append(',')
                        .append(value(d, "train_mean_token_accuracy")).append(',')
                        .append(value(d, "valid_loss")).append(',').append(value(d, "valid_mean_token_accuracy"))
                        .append(',').append(value(d, "full_valid_loss")).append(',').append(value(d, "learning_rate"))
                        .append('\n');
            }
        }
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static String value(Map<String, Object> data, String key) {
        Object v = data.get(key);
        return v == null ? "" : v.toString();
    }
}

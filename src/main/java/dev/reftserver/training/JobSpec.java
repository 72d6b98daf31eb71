package dev.reftserver.training;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.intervention.PositionSpec;
import dev.reftserver.model.ModelShape;
import dev.reftserver.registry.Names;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;

/**
 * A fine-tuning job request in OpenAI's shape, checked: {@code model}, {@code training_file}, {@code validation_file}
 * (held-out examples whose loss the job reports at the end of each epoch), {@code suffix},
 * {@code seed}, OpenAI's {@code hyperparameters} ({@code n_epochs}, {@code batch_size},
 * {@code learning_rate_multiplier}, each a number or {@code "auto"}), and {@code method} of type {@code reft}
 * (or OpenAI's {@code supervised}, trained as the default ReFT) with ReFT hyperparameters. Defaults follow pyreft's
 * README example: LoReFT, rank 4, positions {@code f1+l1}, the middle layer, lr 4e-3, batch 8, wd 0, linear
 * schedule, no warmup, gradient norm clipped to 1.
 *
 * @param metadata OpenAI's metadata: up to 16 string pairs the job carries (keys up to 64 characters, values up to
 *                 512), shown back and filtered on when listing; null when none was given
 */
public record JobSpec(String model, String trainingFile, String validationFile, String suffix, long seed, String type,
        List<Integer> layers, int rank, PositionSpec positions, boolean shareWeights, int epochs, int batchSize,
        double learningRate, double weightDecay, double warmupRatio, Integer maxSteps, double maxGradNorm,
        String initIntervention, Map<String, String> metadata) {

    /** pyreft README's learning rate; OpenAI's learning_rate_multiplier scales it. */
    public static final double DEFAULT_LR = 4e-3;

    private static final Set<String> TOP = Set.of("model", "training_file", "validation_file", "suffix", "seed",
            "hyperparameters", "method", "integrations", "metadata");
    private static final Set<String> REFT = Set.of("intervention_type", "layers", "rank", "positions",
            "share_weights", "n_epochs", "batch_size", "learning_rate", "learning_rate_multiplier", "weight_decay",
            "lr_scheduler", "warmup_ratio", "max_steps", "max_grad_norm", "init_intervention");
    private static final Set<String> OPENAI = Set.of("n_epochs", "batch_size", "learning_rate_multiplier");

    /** @throws ServiceException 400 naming the offending field */
    public static JobSpec parse(JsonNode body, ModelShape shape, String baseModel) {
        if (body == null || !body.isObject()) {
            throw bad(null, "the request body must be a JSON object");
        }
        unknown(body, TOP, "");
        String model = text(body, "model", true);
        if (!model.equals(baseModel)) {
            throw bad("model", "model '" + model + "' cannot be fine-tuned here: only the base model '" + baseModel
                    + "' can");
        }
        String file = text(body, "training_file", true);
        String validation = text(body, "validation_file", false);
        String suffix = text(body, "suffix", false);
        if (suffix != null && !Names.isIntervention(suffix)) {
            throw bad("suffix", "suffix '" + suffix + "' must be 1 to 64 of letters, digits, '.', '_', '-',"
                    + " starting with a letter or digit (it names the trained intervention)");
        }
        long seed = body.hasNonNull("seed") ? integer(body, "seed", "seed", Long.MIN_VALUE, Long.MAX_VALUE) : 42;
        Map<String, String> metadata = metadata(body.path("metadata"));
        JsonNode integrations = body.path("integrations");
        if (!integrations.isMissingNode() && !integrations.isNull()
                && !(integrations.isArray() && integrations.isEmpty())) {
            throw bad("integrations", "integrations are not supported: this server reports to no outside service "
                    + "(follow a job through its events, or GET .../events?stream=true)");
        }

        JsonNode standard = body.path("hyperparameters");
        JsonNode reft = null;
        JsonNode method = body.path("method");
        if (method.isObject()) {
            String type = text(method, "type", true, "method.type");
            switch (type) {
                case "reft" -> reft = method.path("reft").path("hyperparameters");
                case "supervised" -> standard = method.path("supervised").path("hyperparameters");
                default -> throw bad("method.type", "method type '" + type
                        + "' is not supported (use 'reft', or 'supervised' for the default ReFT)");
            }
        } else if (!method.isMissingNode() && !method.isNull()) {
            throw bad("method", "method must be an object");
        }
        if (!standard.isMissingNode() && !standard.isNull()) {
            if (!standard.isObject()) {
                throw bad("hyperparameters", "hyperparameters must be an object");
            }
            unknown(standard, OPENAI, "hyperparameters.");
        } else {
            standard = null;
        }
        if (reft != null && !reft.isMissingNode() && !reft.isNull()) {
            if (!reft.isObject()) {
                throw bad("method.reft.hyperparameters", "must be an object");
            }
            unknown(reft, REFT, "method.reft.hyperparameters.");
        } else {
            reft = null;
        }
        String p = "method.reft.hyperparameters.";
        String type = reft != null && reft.hasNonNull("intervention_type")
                ? text(reft, "intervention_type", true, p + "intervention_type") : "loreft";
        if (!InitialBundle.TYPES.contains(type)) {
            throw bad(p + "intervention_type", "unknown intervention_type '" + type + "' (known: "
                    + String.join(", ", InitialBundle.TYPES) + ")");
        }
        List<Integer> layers = layers(reft, shape, p + "layers");
        int rank = reft != null && reft.hasNonNull("rank")
                ? (int) integer(reft, "rank", p + "rank", 1, Integer.MAX_VALUE) : 4;
        if (rank >= shape.hiddenSize()) {
            throw bad(p + "rank", "rank " + rank + " must be below the model's hidden size " + shape.hiddenSize());
        }
        PositionSpec positions;
        try {
            positions = PositionSpec.parse(reft != null && reft.hasNonNull("positions")
                    ? text(reft, "positions", true, p + "positions") : "f1+l1");
        } catch (BundleRejectedException e) {
            throw bad(p + "positions", e.getMessage());
        }
        boolean share = reft != null && reft.hasNonNull("share_weights") && bool(reft, "share_weights", p);
        int epochs = (int) pick(reft, standard, "n_epochs", 1, 1000, 10);
        int batch = (int) pick(reft, standard, "batch_size", 1, 4096, 8);
        double multiplier = number(reft, standard, "learning_rate_multiplier", 1.0);
        double lr = (reft != null && reft.hasNonNull("learning_rate")
                ? positive(reft, "learning_rate", p + "learning_rate") : DEFAULT_LR) * multiplier;
        double wd = reft != null && reft.hasNonNull("weight_decay")
                ? nonNegative(reft, "weight_decay", p + "weight_decay") : 0.0;
        if (reft != null && reft.hasNonNull("lr_scheduler")
                && !"linear".equals(text(reft, "lr_scheduler", true, p + "lr_scheduler"))) {
            throw bad(p + "lr_scheduler", "only the 'linear' schedule is supported");
        }
        double warmup = reft != null && reft.hasNonNull("warmup_ratio")
                ? nonNegative(reft, "warmup_ratio", p + "warmup_ratio") : 0.0;
        if (warmup >= 1) {
            throw bad(p + "warmup_ratio", "warmup_ratio must be below 1");
        }
        Integer maxSteps = reft != null && reft.hasNonNull("max_steps")
                ? (int) integer(reft, "max_steps", p + "max_steps", 1, Integer.MAX_VALUE) : null;
        double clip = reft != null && reft.hasNonNull("max_grad_norm")
                ? nonNegative(reft, "max_grad_norm", p + "max_grad_norm") : 1.0;
        String init = reft != null && reft.hasNonNull("init_intervention")
                ? text(reft, "init_intervention", true, p + "init_intervention") : null;
        return new JobSpec(model, file, validation, suffix, seed, type, layers, rank, positions, share, epochs, batch,
                lr, wd, warmup, maxSteps, clip, init, metadata);
    }

    /** Updates for {@code examples} examples: max_steps, or epochs x batches per epoch. */
    public int steps(int examples) {
        if (maxSteps != null) {
            return maxSteps;
        }
        int size = Math.min(batchSize, examples);
        return epochs * ((examples + size - 1) / size);
    }

    public TrainingSettings settings(int examples) {
        int steps = steps(examples);
        return new TrainingSettings(learningRate, weightDecay, steps, (int) Math.ceil(warmupRatio * steps),
                maxGradNorm, batchSize, true, seed);
    }

    private static List<Integer> layers(JsonNode reft, ModelShape shape, String param) {
        JsonNode n = reft == null ? null : reft.get("layers");
        List<Integer> out = new ArrayList<>();
        if (n == null || n.isNull()) {
            out.add(shape.numLayers() / 2);
            return out;
        }
        if (n.isString() && n.stringValue().equals("all")) {
            for (int l = 0; l < shape.numLayers(); l++) {
                out.add(l);
            }
            return out;
        }
        if (n.isIntegralNumber()) {
            n = tools.jackson.databind.node.JsonNodeFactory.instance.arrayNode().add(n);
        }
        if (!n.isArray() || n.isEmpty()) {
            throw bad(param, "layers must be a non-empty list of layer indices, or \"all\"");
        }
        for (JsonNode l : n) {
            if (!l.isIntegralNumber() || !l.canConvertToInt() || l.intValue() < 0
                    || l.intValue() >= shape.numLayers()) {
                throw bad(param, "layer " + l + " is not one of the model's layers 0 to " + (shape.numLayers() - 1));
            }
            if (out.contains(l.intValue())) {
                throw bad(param, "layer " + l + " is listed twice");
            }
            out.add(l.intValue());
        }
        return out;
    }

    private static long pick(JsonNode reft, JsonNode standard, String field, long min, long max, long fallback) {
        if (reft != null && reft.hasNonNull(field)) {
            return auto(reft.get(field)) ? fallback : integer(reft, field, "method.reft.hyperparameters." + field,
                    min, max);
        }
        if (standard != null && standard.hasNonNull(field)) {
            return auto(standard.get(field)) ? fallback : integer(standard, field, "hyperparameters." + field, min,
                    max);
        }
        return fallback;
    }

    private static double number(JsonNode reft, JsonNode standard, String field, double fallback) {
        JsonNode source = reft != null && reft.hasNonNull(field) ? reft
                : standard != null && standard.hasNonNull(field) ? standard : null;
        if (source == null || auto(source.get(field))) {
            return fallback;
        }
        return positive(source, field, (source == reft ? "method.reft.hyperparameters." : "hyperparameters.")
                + field);
    }

    private static boolean auto(JsonNode n) {
        return n.isString() && n.stringValue().equals("auto");
    }

    private static void unknown(JsonNode obj, Set<String> known, String prefix) {
        for (String name : obj.propertyNames()) {
            if (!known.contains(name)) {
                throw bad(prefix + name, "unknown field '" + prefix + name + "'");
            }
        }
    }

    private static String text(JsonNode n, String field, boolean required) {
        return text(n, field, required, field);
    }

    private static String text(JsonNode n, String field, boolean required, String param) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            if (required) {
                throw bad(param, param + " is required");
            }
            return null;
        }
        if (!v.isString() || v.stringValue().isBlank()) {
            throw bad(param, param + " must be a non-empty string");
        }
        return v.stringValue();
    }

    private static long integer(JsonNode n, String field, String param, long min, long max) {
        JsonNode v = n.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < min || v.longValue() > max) {
            throw bad(param, param + " must be an integer" + (min > Long.MIN_VALUE ? " from " + min : "")
                    + (max < Integer.MAX_VALUE ? " to " + max : "") + ", not " + v);
        }
        return v.longValue();
    }

    private static double positive(JsonNode n, String field, String param) {
        JsonNode v = n.get(field);
        if (!v.isNumber() || !(v.doubleValue() > 0) || !Double.isFinite(v.doubleValue())) {
            throw bad(param, param + " must be a positive number, not " + v);
        }
        return v.doubleValue();
    }

    private static double nonNegative(JsonNode n, String field, String param) {
        JsonNode v = n.get(field);
        if (!v.isNumber() || !(v.doubleValue() >= 0) || !Double.isFinite(v.doubleValue())) {
            throw bad(param, param + " must be a number of 0 or more, not " + v);
        }
        return v.doubleValue();
    }

    private static boolean bool(JsonNode n, String field, String prefix) {
        JsonNode v = n.get(field);
        if (!v.isBoolean()) {
            throw bad(prefix + field, prefix + field + " must be true or false");
        }
        return v.booleanValue();
    }

    /** OpenAI's metadata limits: 16 pairs, keys up to 64 characters, values strings up to 512. */
    /**
     * OpenAI's {@code metadata} (of a job, or of a response): up to 16 pairs, keys of 1 to 64 characters, string
     * values of at most 512; null when not given.
     */
    public static Map<String, String> metadata(JsonNode n) {
        if (n.isMissingNode() || n.isNull()) {
            return null;
        }
        if (!n.isObject()) {
            throw bad("metadata", "metadata must be an object of string values");
        }
        if (n.size() > 16) {
            throw bad("metadata", "metadata holds at most 16 pairs, not " + n.size());
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            if (e.getKey().isEmpty() || e.getKey().length() > 64) {
                throw bad("metadata", "a metadata key has 1 to 64 characters");
            }
            if (!e.getValue().isString() || e.getValue().asString().length() > 512) {
                throw bad("metadata", "metadata value '" + e.getKey() + "' must be a string of at most 512 "
                        + "characters");
            }
            out.put(e.getKey(), e.getValue().asString());
        }
        return Collections.unmodifiableMap(out);
    }

    private static ServiceException bad(String param, String message) {
        return ServiceException.invalidRequest(param, message);
    }
}

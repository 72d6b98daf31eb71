package dev.reftserver.model;

import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.checkpoint.CheckpointException;
import java.util.Locale;

/**
 * The KV cache's dtype, {@code reft.model.kv-cache-dtype}: {@code auto} is bfloat16 with bfloat16 weights (as
 * transformers and vLLM keep a bfloat16 model's cache: half the memory, and a decode step's attention over it runs in
 * bfloat16), otherwise the activations' dtype; {@code float32} keeps float32 activations' cache in float32 also over
 * bfloat16 weights (attention entirely in float32, at twice the cache memory); {@code bfloat16} needs bfloat16
 * weights.
 */
final class CacheDtype {

    private CacheDtype() {
    }

    /**
     * @param setting     the setting's value (null: auto)
     * @param weights     the dtype the projections are kept in ({@link TransformerLM#weightDtype()})
     * @param activations the activations' dtype
     * @throws CheckpointException for an unknown value, or one this model cannot keep
     */
    static DataType choose(String setting, String weights, DataType activations) {
        String s = setting == null ? "auto" : setting.strip().toLowerCase(Locale.ROOT);
        boolean bf16Weights = "bfloat16".equals(weights);
        DataType chosen = switch (s) {
            case "auto" -> bf16Weights ? DataType.BFLOAT16 : activations;
            case "float32" -> activations == DataType.FLOAT32 ? DataType.FLOAT32 : null;
            case "bfloat16" -> bf16Weights ? DataType.BFLOAT16 : null;
            default -> throw new CheckpointException("unknown reft.model.kv-cache-dtype '" + setting
                    + "' (supported: auto, float32, bfloat16)");
        };
        if (chosen == null) {
            throw new CheckpointException("reft.model.kv-cache-dtype " + s + " needs "
                    + (s.equals("float32") ? "float32 activations" : "bfloat16 weights") + "; this model runs "
                    + weights + " weights with " + activations.name().toLowerCase(Locale.ROOT)
                    + " activations; use auto");
        }
        return chosen;
    }
}

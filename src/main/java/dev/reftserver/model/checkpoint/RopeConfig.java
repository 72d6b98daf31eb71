package dev.reftserver.model.checkpoint;

import static dev.reftserver.model.checkpoint.HfConfig.PATH_HINT;
import static dev.reftserver.model.checkpoint.HfConfig.bool;
import static dev.reftserver.model.checkpoint.HfConfig.doubleOr;
import static dev.reftserver.model.checkpoint.HfConfig.intOr;
import static dev.reftserver.model.checkpoint.HfConfig.requireDouble;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.reftserver.model.Rope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/** config.json's RoPE ({@code rope_scaling} or {@code rope_parameters}, and Phi-3's partial rotation) as a {@link Rope}. */
final class RopeConfig {

    private RopeConfig() {
    }

    /**
     * RoPE from {@code rope_parameters} (transformers 5) or from {@code rope_theta} plus {@code rope_scaling}
     * (transformers 4); a checkpoint carries one or the other. Defaults as transformers 5 standardises them: the
     * original context of llama3, yarn and longrope is a top-level {@code original_max_position_embeddings} where
     * the config has one (Phi-3's: 4096 when absent), else the RoPE dict's, else {@code max_position_embeddings}
     * (Gemma 3's per-layer dicts never take the top-level one), a missing factor of yarn
     * and longrope is their ratio, and the attention factor of yarn and longrope follows from the factor.
     */
    static Rope rope(JsonObject c, String where, String arch, int maxPositions) {
        JsonObject p;
        String key;
        double theta;
        boolean gemma3 = arch.equals(GEMMA3);
        for (String k : new String[] {"rope_parameters", "rope_scaling"}) {
            // A RoPE setting that is neither an object nor null would otherwise read as none: plain RoPE, other logits.
            if (c.has(k) && !c.get(k).isJsonNull() && !c.get(k).isJsonObject()) {
                throw new CheckpointException(where + ": " + k + " is not an object: " + c.get(k));
            }
        }
        if (c.has("rope_parameters") && c.get("rope_parameters").isJsonObject()) {
            key = "rope_parameters";
            p = c.getAsJsonObject(key);
            if (gemma3) {
                key = "rope_parameters.full_attention";
                p = p.has("full_attention") && p.get("full_attention").isJsonObject()
                        ? p.getAsJsonObject("full_attention") : new JsonObject();
            } else if (p.has("full_attention") || p.has("sliding_attention")) {
                throw new CheckpointException(where + ": unsupported rope_parameters per layer type (only one RoPE"
                        + " for every layer, except Gemma 3)" + PATH_HINT);
            }
            theta = doubleOr(p, "rope_theta", doubleOr(c, "rope_theta", defaultTheta(arch)));
        } else {
            key = "rope_scaling";
            p = c.has(key) && c.get(key).isJsonObject() ? c.getAsJsonObject(key) : new JsonObject();
            theta = doubleOr(c, "rope_theta", defaultTheta(arch));
        }
        return rope(c, p, key, theta, where, arch, maxPositions);
    }

    /**
     * The RoPE of sliding-window layers where it differs from {@link #rope}'s: Gemma 3's local layers rotate with
     * their own base ({@code rope_local_base_freq}, 10,000 by default; transformers 5: {@code
     * rope_parameters.sliding_attention}) and no scaling; null for every other family.
     */
    static Rope slidingRope(JsonObject c, String where, String arch, int maxPositions) {
        if (!arch.equals(GEMMA3)) {
            return null;
        }
        if (c.has("rope_parameters") && c.get("rope_parameters").isJsonObject()) {
            JsonObject all = c.getAsJsonObject("rope_parameters");
            JsonObject p = all.has("sliding_attention") && all.get("sliding_attention").isJsonObject()
                    ? all.getAsJsonObject("sliding_attention") : new JsonObject();
            return rope(c, p, "rope_parameters.sliding_attention", doubleOr(p, "rope_theta",
                    doubleOr(c, "rope_local_base_freq", 10000.0)), where, arch, maxPositions);
        }
        return Rope.plain(doubleOr(c, "rope_local_base_freq", 10000.0));
    }

    static final String GEMMA3 = "Gemma3ForCausalLM";

    /** The RoPE base a family's config class defaults to when config.json names none. */
    static double defaultTheta(String arch) {
        return switch (arch) {
            case GEMMA3 -> 1_000_000.0;
            case HfConfig.SMOLLM3 -> 2_000_000.0;
            default -> 10000.0;
        };
    }

    private static Rope rope(JsonObject c, JsonObject p, String key, double theta, String where, String arch,
            int maxPositions) {
        String typeName = p.has("rope_type") && !p.get("rope_type").isJsonNull() ? p.get("rope_type").getAsString()
                : p.has("type") && !p.get("type").isJsonNull() ? p.get("type").getAsString() : "default";
        boolean phi3 = arch.equals("Phi3ForCausalLM");
        if (phi3 && (typeName.equals("su") || typeName.equals("yarn"))) {
            typeName = "longrope";  // Phi3Config's names for longrope in older checkpoints
        }
        String name = typeName;
        Rope.Type type = Arrays.stream(Rope.Type.values()).filter(t -> t.configName().equals(name)).findFirst()
                .orElseThrow(() -> new CheckpointException(where + ": unsupported " + key + " rope_type '" + name
                        + "' (supported: " + Arrays.stream(Rope.Type.values()).map(Rope.Type::configName)
                                .collect(Collectors.joining(", ")) + ")" + PATH_HINT));
        if (phi3 && type != Rope.Type.DEFAULT && type != Rope.Type.LONGROPE) {
            throw new CheckpointException(where + ": unsupported " + key + " rope_type '" + name
                    + "' for Phi-3 (supported: default, longrope)" + PATH_HINT);
        }
        if (type == Rope.Type.DEFAULT) {
            return Rope.plain(theta);
        }
        // transformers' standardize_rope_params: a top-level original_max_position_embeddings (Phi-3's config
        // always has one, 4096 by default) wins over the RoPE dict's own, except in Gemma 3's per-layer-type dicts
        String originalKey = "original_max_position_embeddings";
        boolean topLevel = !arch.equals(GEMMA3) && c.has(originalKey) && !c.get(originalKey).isJsonNull();
        int original = phi3 ? intOr(c, originalKey, 4096)
                : topLevel ? intOr(c, originalKey, maxPositions) : intOr(p, originalKey, maxPositions);
        if (original <= 0) {
            throw new CheckpointException(where + ": original_max_position_embeddings must be positive, not "
                    + original);
        }
        boolean hasFactor = p.has("factor") && !p.get("factor").isJsonNull();
        double ratio = (double) maxPositions / original;
        switch (type) {
            case YARN -> {
                double factor = hasFactor ? p.get("factor").getAsDouble() : ratio;
                double attention;
                if (p.has("attention_factor") && !p.get("attention_factor").isJsonNull()) {
                    attention = p.get("attention_factor").getAsDouble();
                } else {
                    double mscale = doubleOr(p, "mscale", 0);
                    double mscaleAllDim = doubleOr(p, "mscale_all_dim", 0);
                    attention = mscale != 0 && mscaleAllDim != 0
                            ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim) : yarnMscale(factor, 1);
                }
                double betaFast = doubleOr(p, "beta_fast", 0);
                double betaSlow = doubleOr(p, "beta_slow", 0);
                return Rope.yarn(theta, factor, original, betaFast == 0 ? 32 : betaFast,
                        betaSlow == 0 ? 1 : betaSlow, bool(p, "truncate", true), attention);
            }
            case LONGROPE -> {
                double factor = hasFactor ? p.get("factor").getAsDouble() : ratio;
                double attention = p.has("attention_factor") && !p.get("attention_factor").isJsonNull()
                        ? p.get("attention_factor").getAsDouble()
                        : factor <= 1 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
                Rope rope = Rope.longRope(theta, original, numbers(p, "short_factor", key, where),
                        numbers(p, "long_factor", key, where), attention);
                return phi3 ? rope.withRebuildOnSwitch() : rope;
            }
            default -> {
            }
        }
        double factor = requireDouble(p, "factor", key, where);
        if (p.has("attention_factor") && !p.get("attention_factor").isJsonNull()
                && p.get("attention_factor").getAsDouble() != 1.0) {
            throw new CheckpointException(where + ": unsupported " + key + " attention_factor "
                    + p.get("attention_factor") + " for rope_type '" + name + "' (only 1.0)" + PATH_HINT);
        }
        if (type == Rope.Type.LLAMA3) {
            return Rope.llama3(theta, factor, requireDouble(p, "low_freq_factor", key, where),
                    requireDouble(p, "high_freq_factor", key, where), original);
        }
        // HF _compute_dynamic_ntk_parameters scales by max_position_embeddings, whatever the config's original.
        return Rope.scaled(type, theta, factor, maxPositions);
    }

    /** yarn's get_mscale: 0.1 * mscale * ln(scale) + 1 for a scale above 1. */
    private static double yarnMscale(double scale, double mscale) {
        return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
    }

    /**
     * Phi-3's {@code partial_rotary_factor} (in {@code rope_parameters} or at the top level); 1 when absent.
     * Other families rotate whole heads: with plain RoPE transformers ignores the setting (its default frequencies
     * cover the whole head), and with a scaled RoPE its frequencies cover part of a head that the family's
     * attention rotates whole, which fails in transformers, so it is refused.
     *
     * @param type the RoPE's type
     */
    static double partialRotary(JsonObject c, String arch, String where, Rope.Type type) {
        JsonObject p = c.has("rope_parameters") && c.get("rope_parameters").isJsonObject()
                ? c.getAsJsonObject("rope_parameters") : new JsonObject();
        double partial = doubleOr(p, "partial_rotary_factor", doubleOr(c, "partial_rotary_factor", 1.0));
        if (!arch.equals("Phi3ForCausalLM") && type == Rope.Type.DEFAULT) {
            return 1.0;
        }
        if (partial != 1.0 && !arch.equals("Phi3ForCausalLM")) {
            throw new CheckpointException(where + ": unsupported partial_rotary_factor " + partial + " for " + arch
                    + " (only Phi-3 rotates part of each head)" + PATH_HINT);
        }
        return partial;
    }

    private static List<Double> numbers(JsonObject p, String field, String key, String where) {
        JsonElement e = p.get(field);
        if (e == null || !e.isJsonArray()) {
            throw new CheckpointException(where + ": " + key + " lacks the list '" + field + "'");
        }
        List<Double> out = new ArrayList<>();
        for (JsonElement x : e.getAsJsonArray()) {
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isNumber()) {
                throw new CheckpointException(where + ": " + key + " " + field + " holds a non-number: " + x);
            }
            out.add(x.getAsDouble());
        }
        return out;
    }
}

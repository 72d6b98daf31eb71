package dev.reftserver.intervention;

import dev.reftserver.model.ModelShape;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads the directory {@code ReftModel.save} (= pyvene {@code IntervenableModel.save}) writes: {@code config.json}
 * and one {@code intkey_<key>.bin} per intervention, keys in either pyvene naming
 * ({@code layer_2_comp_block_output_unit_pos_nunit_1#0}, older {@code layer.2.comp.block_output.unit.pos.nunit.1#0}).
 * pyreft stores neither the positions nor share_weights, and not the activation (always {@code linear} here).
 */
final class PyreftImporter {

    /** Keys of the default state dicts that carry no weights. */
    private static final Set<String> IGNORED_KEYS = Set.of("embed_dim", "interchange_dim");
    private static final String ORIGINAL = "rotate_layer.parametrizations.weight.original";
    private static final String BASE = "rotate_layer.parametrizations.weight.0.base";

    private static final JsonMapper JSON =
            JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** One entry of pyvene's {@code representations}. */
    private record Representation(int layer, String component, String unit, int maxUnits, int rank,
            String newKey, String oldKey) {
    }

    private PyreftImporter() {
    }

    static ReftBundle read(Map<String, byte[]> files, ModelShape shape, PositionSpec positions,
            boolean shareWeights, BundleLimits limits, ImportBudget budget) {
        JsonNode config = parseConfig(files.get("config.json"));
        List<Representation> reps = representations(config, limits);
        List<ReftType> types = types(config, reps.size());
        JsonNode dims = config.path("intervention_dimensions");
        if (dims.isArray()) {
            for (int i = 0; i < dims.size(); i++) {
                JsonNode dim = dims.get(i);
                if (dim.isIntegralNumber() && (!dim.canConvertToInt() || dim.intValue() != shape.hiddenSize())) {
                    throw new BundleRejectedException("shape_mismatch", "pyreft config.json: intervention_dimensions["
                            + i + "] is " + dim + ", the base model's hidden size is "
                            + shape.hiddenSize());
                }
            }
        }
        List<Integer> order = sortedOrder(config, reps);
        int n = order.size();
        boolean untied = !shareWeights && positions.hasBothGroups();
        if (untied && n % 2 != 0) {
            throw new BundleRejectedException("positions", "pyreft config.json: " + n + " interventions cannot be"
                    + " split between first and last positions (" + positions + " without share_weights needs an"
                    + " even number: first half first, second half last)");
        }
        List<BundleValidator.Declared> declared = new ArrayList<>();
        for (int i : order) {
            declared.add(new BundleValidator.Declared(reps.get(i).layer(), types.get(i), reps.get(i).rank()));
        }
        BundleValidator.checkSize(declared, shape.hiddenSize(), limits, "pyreft config.json");
        List<Intervention> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int repIndex = order.get(i);
            Representation rep = reps.get(repIndex);
            ReftType type = types.get(repIndex);
            String file = binFile(files, rep);
            String where = "pyreft intervention " + i + " (layer " + rep.layer() + ", " + file + ")";
            Map<String, TorchStateDict.Entry> state =
                    TorchStateDict.read(files.get(file), limits, budget, "pyreft " + file);
            Map<String, FloatTensor> roles = roles(type, state, shape.hiddenSize(), rep.rank(), where);
            FloatTensor primary = roles.get(type.hasRotate() ? ReftType.ROTATE : ReftType.PROJ);
            int actual = primary == null || primary.rank() != 2 ? -1
                    : type.hasRotate() ? primary.dim(1) : primary.dim(0);
            if (primary != null && actual != rep.rank()) {
                throw new BundleRejectedException("tensor_shape", where + ": config.json says rank " + rep.rank()
                        + " but its tensors are " + primary.shapeText());
            }
            ApplyTo applyTo = !untied ? ApplyTo.ALL : i < n / 2 ? ApplyTo.FIRST : ApplyTo.LAST;
            out.add(type.create(rep.layer(), applyTo, Activation.LINEAR, roles));
        }
        return new ReftBundle(shape.hiddenSize(), shape.numLayers(), positions, shareWeights, out);
    }

    private static JsonNode parseConfig(byte[] bytes) {
        try {
            JsonNode n = JSON.readTree(new String(bytes, StandardCharsets.UTF_8));
            if (n == null || !n.isObject()) {
                throw format("is not a JSON object");
            }
            return n;
        } catch (JacksonException ex) {
            throw format("is not valid JSON (" + ex.getOriginalMessage() + ")");
        }
    }

    /** pyvene's RepresentationConfig, saved as a list (namedtuple order) or, by some versions, an object. */
    private static List<Representation> representations(JsonNode config, BundleLimits limits) {
        JsonNode list = config.path("representations");
        if (!list.isArray() || list.isEmpty()) {
            throw format("'representations' must be a non-empty list");
        }
        if (list.size() > limits.maxInterventions()) {
            throw new BundleRejectedException("too_large", "pyreft config.json: " + list.size()
                    + " representations, more than the limit of " + limits.maxInterventions(), true);
        }
        Map<String, Integer> newCounter = new HashMap<>();
        Map<String, Integer> oldCounter = new HashMap<>();
        List<Representation> reps = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode r = list.get(i);
            JsonNode layer;
            JsonNode component;
            JsonNode unit;
            JsonNode maxUnits;
            JsonNode rank;
            if (r.isArray()) {
                layer = r.path(0);
                component = r.path(1);
                unit = r.path(2);
                maxUnits = r.path(3);
                rank = r.path(4);
            } else {
                layer = r.path("layer");
                component = r.path("component");
                unit = r.path("unit");
                maxUnits = r.path("max_number_of_units");
                rank = r.path("low_rank_dimension");
            }
            String where = "representations[" + i + "]";
            if (!layer.isIntegralNumber() || !layer.canConvertToInt() || !component.isString() || !unit.isString()
                    || !maxUnits.isIntegralNumber() || !maxUnits.canConvertToInt() || !rank.isIntegralNumber()
                    || !rank.canConvertToInt()) {
                throw format(where + " needs an int layer, component and unit strings, max_number_of_units and an"
                        + " int low_rank_dimension");
            }
            String c = component.stringValue();
            String u = unit.stringValue();
            long nunit = maxUnits.asLong();
            int blockLayer = blockOutputLayer(c, layer.intValue());
            if (blockLayer < 0) {
                throw format(where + ": component '" + c + "' is not supported (only block_output, or a block's"
                        + " output named by its module path such as model.layers[N].output)");
            }
            if (!u.equals("pos") || nunit != 1) {
                throw format(where + ": unit '" + u + "' with max_number_of_units " + nunit
                        + " is not supported (only pos, 1)");
            }
            // pyvene's _get_representation_key: a per-proposal collision counter gives the #n suffix
            String newProposal = "layer_" + layer.asLong() + "_comp_" + c + "_unit_" + u + "_nunit_" + nunit;
            String oldProposal = "layer." + layer.asLong() + ".comp." + c + ".unit." + u + ".nunit." + nunit;
            int nNew = newCounter.merge(newProposal, 1, Integer::sum) - 1;
            int nOld = oldCounter.merge(oldProposal, 1, Integer::sum) - 1;
            reps.add(new Representation(blockLayer, NativeBundleFormat.COMPONENT, u, (int) nunit, rank.intValue(),
                    newProposal + "#" + nNew, oldProposal + "#" + nOld));
        }
        return reps;
    }

    /**
     * pyvene's module-path components that hook a decoder block's output, as pyvene resolves them on a causal LM:
     * {@code model.layers[N].output} (Llama, Mistral, Qwen2) or {@code transformer.h[N].output} (GPT-2), with or
     * without the wrapper's {@code model.} prefix and the {@code .output} hook suffix (pyvene's default hook); a
     * multimodal Gemma 3's text layers are {@code model.language_model.layers[N]} (transformers 5) or
     * {@code language_model.model.layers[N]} (4.x).
     */
    private static final Pattern BLOCK_OUTPUT_PATH = Pattern.compile("(?:model\\.)?(?:language_model\\.)?"
            + "(?:model\\.layers|layers|transformer\\.h|h)\\[(\\d{1,9})\\](?:\\.output)?");

    /**
     * The layer whose block output a component names: {@code layer} for {@code block_output}, N for a module path
     * of block N's output (the path, not the {@code layer} field, is what pyvene hooks); -1 for anything else.
     */
    static int blockOutputLayer(String component, int layer) {
        if (component.equals(NativeBundleFormat.COMPONENT)) {
            return layer;
        }
        Matcher m = BLOCK_OUTPUT_PATH.matcher(component);
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    private static List<ReftType> types(JsonNode config, int count) {
        JsonNode t = config.path("intervention_types");
        List<ReftType> types = new ArrayList<>();
        if (t.isString()) {
            ReftType one = ReftType.fromPyreftTypeString(t.stringValue(), "pyreft config.json intervention_types");
            for (int i = 0; i < count; i++) {
                types.add(one);
            }
            return types;
        }
        if (!t.isArray() || t.size() != count) {
            throw format("'intervention_types' must list one type per representation (" + count + ")");
        }
        for (int i = 0; i < count; i++) {
            if (!t.get(i).isString()) {
                throw format("intervention_types[" + i + "] is not a string");
            }
            types.add(ReftType.fromPyreftTypeString(t.get(i).stringValue(),
                    "pyreft config.json intervention_types[" + i + "]"));
        }
        return types;
    }

    /** Indices into the representations in {@code sorted_keys} order (config order when absent). */
    private static List<Integer> sortedOrder(JsonNode config, List<Representation> reps) {
        JsonNode keys = config.path("sorted_keys");
        List<Integer> order = new ArrayList<>();
        if (keys.isMissingNode() || keys.isNull()) {
            for (int i = 0; i < reps.size(); i++) {
                order.add(i);
            }
            return order;
        }
        if (!keys.isArray() || keys.size() != reps.size()) {
            throw format("'sorted_keys' must list one key per representation (" + reps.size() + ")");
        }
        Map<String, Integer> byKey = new HashMap<>();
        for (int i = 0; i < reps.size(); i++) {
            byKey.put(reps.get(i).newKey(), i);
            byKey.put(reps.get(i).oldKey(), i);
        }
        for (int i = 0; i < keys.size(); i++) {
            Integer idx = keys.get(i).isString() ? byKey.get(keys.get(i).stringValue()) : null;
            if (idx == null) {
                throw format("sorted_keys[" + i + "] '" + keys.get(i).asString("") + "' matches no representation");
            }
            if (order.contains(idx)) {
                throw format("sorted_keys[" + i + "] repeats a key");
            }
            order.add(idx);
        }
        return order;
    }

    private static String binFile(Map<String, byte[]> files, Representation rep) {
        for (String key : List.of(rep.newKey(), rep.oldKey())) {
            String name = "intkey_" + key + ".bin";
            if (files.containsKey(name)) {
                return name;
            }
        }
        throw new BundleRejectedException("bundle_format", "pyreft bundle: file intkey_" + rep.newKey()
                + ".bin (or intkey_" + rep.oldKey() + ".bin) is missing");
    }

    /** Maps one intervention's state dict onto native roles, following each pyreft class's state_dict. */
    private static Map<String, FloatTensor> roles(ReftType type, Map<String, TorchStateDict.Entry> state,
            int hidden, int rank, String where) {
        Map<String, TorchStateDict.Entry> remaining = new LinkedHashMap<>(state);
        for (String k : IGNORED_KEYS) {
            TorchStateDict.Entry e = remaining.remove(k);
            if (e != null && e.dtype().floating()) {
                throw new BundleRejectedException("dtype", where + ": '" + k + "' should be an integer buffer");
            }
        }
        Map<String, FloatTensor> roles = new LinkedHashMap<>();
        if (type.hasRotate()) {
            // LoReFT's own state_dict stores the materialized S; the others keep torch's parametrization
            FloatTensor s = take(remaining, "rotate_layer", where);
            FloatTensor x = take(remaining, ORIGINAL, where);
            FloatTensor b = take(remaining, BASE, where);
            if (s == null && x != null && b != null) {
                // its cost is d r^2: hold it to the shapes config.json and the base model declare
                if (!x.hasShape(hidden, rank) || !b.hasShape(hidden, hidden)) {
                    throw new BundleRejectedException("tensor_shape", where + ": orthogonal parametrization "
                            + x.shapeText() + " / " + b.shapeText() + " should be [" + hidden + ", " + rank
                            + "] / [" + hidden + ", " + hidden + "]");
                }
                s = OrthogonalParametrization.rebuild(x, b, where);
            } else if (s == null || x != null || b != null) {
                throw new BundleRejectedException("tensor_shape", where + ": needs either 'rotate_layer' or both '"
                        + ORIGINAL + "' and '" + BASE + "'");
            }
            roles.put(ReftType.ROTATE, s);
        } else {
            roles.put(ReftType.PROJ, required(remaining, "proj_layer.weight", where));
            FloatTensor projBias = take(remaining, "proj_layer.bias", where);
            // NoReFT subtracts proj_layer(h), bias included; NodiReFT only uses proj_layer.weight
            if (projBias != null && type == ReftType.NOREFT) {
                roles.put(ReftType.PROJ_BIAS, projBias);
            }
        }
        if (type.hasWeight()) {
            FloatTensor w = take(remaining, "learned_source.weight", where);
            FloatTensor bias = take(remaining, "learned_source.bias", where);
            if (w == null && bias == null) {
                // LoReFT's state_dict stores learned_source's own keys without prefix
                w = take(remaining, "weight", where);
                bias = take(remaining, "bias", where);
            }
            if (w == null || bias == null) {
                throw new BundleRejectedException("tensor_shape",
                        where + ": needs the learned source 'weight' and 'bias' (or learned_source.weight/.bias)");
            }
            roles.put(ReftType.WEIGHT, w);
            roles.put(ReftType.BIAS, bias);
        } else {
            // ConsReFT and LobiReFT learn a bare [r] parameter named learned_source
            roles.put(ReftType.BIAS, required(remaining, "learned_source", where));
        }
        if (!remaining.isEmpty()) {
            throw new BundleRejectedException("tensor_shape", where + ": unexpected tensors " + remaining.keySet()
                    + " for pyreft " + type.pyreftClass());
        }
        return roles;
    }

    private static FloatTensor required(Map<String, TorchStateDict.Entry> state, String key, String where) {
        FloatTensor t = take(state, key, where);
        if (t == null) {
            throw new BundleRejectedException("tensor_shape", where + ": tensor '" + key + "' is missing");
        }
        return t;
    }

    private static FloatTensor take(Map<String, TorchStateDict.Entry> state, String key, String where) {
        TorchStateDict.Entry e = state.remove(key);
        if (e == null) {
            return null;
        }
        if (!e.dtype().weightDtype()) {
            throw new BundleRejectedException("dtype", where + ": tensor '" + key + "' is " + e.dtype().torchName()
                    + "; weights must be float32, float16 or bfloat16");
        }
        FloatTensor t = e.asFloatTensor();
        finite(t, key, where);
        return t;
    }

    private static void finite(FloatTensor t, String key, String where) {
        int bad = t.firstNonFinite();
        if (bad >= 0) {
            throw new BundleRejectedException("non_finite",
                    where + ": tensor '" + key + "' holds " + t.data()[bad] + " at flat index " + bad);
        }
    }

    private static BundleRejectedException format(String what) {
        return new BundleRejectedException("bundle_format", "pyreft config.json: " + what);
    }
}

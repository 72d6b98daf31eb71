package dev.reftserver.intervention;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes a native bundle as the directory pyreft's {@code ReftModel.save} (pyvene's {@code IntervenableModel.save})
 * writes, zipped: {@code config.json} and one {@code intkey_<key>.bin} per intervention, so that
 * {@code pyreft.ReftModel.load} and {@link PyreftImporter} (given the bundle's positions and share_weights) read it
 * back to the same interventions.
 *
 * <p>Each {@code .bin} holds the state dict that intervention's pyreft class saves: LoReFT its own
 * {@code state_dict()} ({@code weight}, {@code bias}, {@code rotate_layer} = S); NoReFT and NodiReFT torch's default
 * one ({@code embed_dim}, {@code interchange_dim}, {@code proj_layer.*}, {@code learned_source.*}); DiReFT, ConsReFT
 * and LobiReFT torch's default one with S as the orthogonal parametrization that torch itself stores for a layer
 * whose weight is S ({@link OrthogonalParametrization#of}: X = -I, B = [S | C]), which pyreft's strict
 * {@code load_state_dict} needs and which gives S back exactly. Tensors are fp32.
 *
 * <p>pyreft keeps neither positions nor share_weights: untied bundles (both position groups, no shared weights)
 * are written first-position interventions first, then last-position ones, the order pyreft's layout gives on
 * load; edits at one layer on the two groups touch disjoint positions, so the reordering changes nothing.
 *
 * <p>{@code src/test/scripts/check_pyreft_export.py} loads exports of all six types with real torch into modules
 * mirroring pyreft's classes (strict {@code load_state_dict}, {@code weights_only}, {@code mmap}) and finds every
 * weight bit-equal.
 */
public final class PyreftExporter {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private PyreftExporter() {
    }

    /**
     * @param nativeZip a stored {@code reft-bundle/1} zip
     * @param limits    the limits it was accepted under
     * @return the zip of the pyreft save directory, its files at the root
     * @throws NotExportableException if pyreft cannot express the bundle
     */
    public static byte[] export(byte[] nativeZip, BundleLimits limits) {
        Map<String, byte[]> files = files(NativeBundleFormat.readZip(nativeZip, limits, "stored bundle"));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (Map.Entry<String, byte[]> e : files.entrySet()) {
                ZipEntry entry = new ZipEntry(e.getKey());
                entry.setTimeLocal(SafeZip.WRITTEN_AT);
                zip.putNextEntry(entry);
                zip.write(e.getValue());
                zip.closeEntry();
            }
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return bytes.toByteArray();
    }

    /** config.json then the {@code .bin} files in {@code sorted_keys} order. */
    static Map<String, byte[]> files(ReftBundle bundle) {
        List<Intervention> ordered = pyreftOrder(bundle);
        List<String> keys = keys(ordered);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", config(bundle.hiddenSize(), ordered, keys).getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < ordered.size(); i++) {
            String archive = "intkey_" + keys.get(i);
            Intervention iv = ordered.get(i);
            files.put(archive + ".bin", TorchSaveWriter.save(archive, stateDict(iv, bundle.hiddenSize()),
                    metadataModules(iv.type())));
        }
        return files;
    }

    /** The interventions in the order pyreft's layout (see {@link PyreftImporter}) gives them back. */
    static List<Intervention> pyreftOrder(ReftBundle bundle) {
        PositionSpec positions = bundle.positions();
        boolean untied = !bundle.shareWeights() && positions.hasBothGroups();
        List<Intervention> first = new ArrayList<>();
        List<Intervention> last = new ArrayList<>();
        for (int i = 0; i < bundle.interventions().size(); i++) {
            Intervention iv = bundle.interventions().get(i);
            String where = "intervention " + i + " (layer " + iv.layer() + ")";
            if (iv.act() != Activation.LINEAR) {
                throw new NotExportableException(where + " uses activation '" + iv.act().wireName()
                        + "'; pyreft saves no activation and loads every intervention with a linear one");
            }
            if (untied && iv.applyTo() == ApplyTo.ALL) {
                throw new NotExportableException(where + " applies to all positions of an untied bundle ("
                        + positions + ", share_weights false); pyreft gives each intervention of such a bundle"
                        + " either the first or the last positions");
            }
            if (!untied && !covers(iv.applyTo(), positions)) {
                throw new NotExportableException(where + " applies to the " + iv.applyTo().wireName()
                        + " positions only; with " + positions + " and share_weights " + bundle.shareWeights()
                        + " pyreft applies every intervention to all of them");
            }
            (untied && iv.applyTo() == ApplyTo.LAST ? last : first).add(iv);
        }
        if (untied && first.size() != last.size()) {
            throw new NotExportableException("the bundle has " + first.size() + " first-position and " + last.size()
                    + " last-position interventions; pyreft's untied layout needs as many of each");
        }
        first.addAll(last);
        return first;
    }

    /** Whether an intervention edits every position the spec selects. */
    private static boolean covers(ApplyTo applyTo, PositionSpec positions) {
        return switch (applyTo) {
            case ALL -> true;
            case FIRST -> !positions.hasLast();
            case LAST -> !positions.hasFirst();
        };
    }

    /** pyvene's _get_representation_key: a per-layer counter gives the #n suffix. */
    private static List<String> keys(List<Intervention> ordered) {
        Map<Integer, Integer> counter = new HashMap<>();
        List<String> keys = new ArrayList<>();
        for (Intervention iv : ordered) {
            int n = counter.merge(iv.layer(), 1, Integer::sum) - 1;
            keys.add("layer_" + iv.layer() + "_comp_" + NativeBundleFormat.COMPONENT + "_unit_pos_nunit_1#" + n);
        }
        return keys;
    }

    /**
     * pyvene's IntervenableConfig as {@code save_pretrained} writes it (sorted keys, two-space indent), without
     * {@code transformers_version}: no transformers wrote it.
     */
    private static String config(int hidden, List<Intervention> ordered, List<String> keys) {
        ObjectNode c = JSON.createObjectNode();
        ArrayNode sources = c.putArray("intervention_constant_sources");
        ArrayNode dims = c.putArray("intervention_dimensions");
        ArrayNode types = c.putArray("intervention_types");
        c.put("mode", "parallel");
        ArrayNode reps = c.putArray("representations");
        for (Intervention iv : ordered) {
            sources.add(true);
            dims.add(hidden);
            types.add("<class 'pyreft.interventions." + iv.type().pyreftClass() + "'>");
            // RepresentationConfig(layer, component, unit, max_number_of_units, low_rank_dimension, 9 more unset)
            ArrayNode r = reps.addArray();
            r.add(iv.layer()).add(NativeBundleFormat.COMPONENT).add("pos").add(1).add(iv.rank());
            for (int k = 0; k < 9; k++) {
                r.addNull();
            }
        }
        ArrayNode sorted = c.putArray("sorted_keys");
        keys.forEach(sorted::add);
        StringBuilder out = new StringBuilder();
        pythonJson(c, 0, out);
        return out.append('\n').toString();
    }

    /** {@code json.dumps(value, indent=2, sort_keys=True)} for the values config.json holds. */
    private static void pythonJson(JsonNode n, int depth, StringBuilder out) {
        String inner = "  ".repeat(depth + 1);
        if (n.isObject() && !n.isEmpty()) {
            out.append("{\n");
            List<String> names = new ArrayList<>(n.propertyNames());
            names.sort(null);
            for (int i = 0; i < names.size(); i++) {
                out.append(inner).append(JSON.writeValueAsString(names.get(i))).append(": ");
                pythonJson(n.get(names.get(i)), depth + 1, out);
                out.append(i + 1 < names.size() ? ",\n" : "\n");
            }
            out.append("  ".repeat(depth)).append('}');
        } else if (n.isArray() && !n.isEmpty()) {
            out.append("[\n");
            for (int i = 0; i < n.size(); i++) {
                out.append(inner);
                pythonJson(n.get(i), depth + 1, out);
                out.append(i + 1 < n.size() ? ",\n" : "\n");
            }
            out.append("  ".repeat(depth)).append(']');
        } else {
            out.append(JSON.writeValueAsString(n));
        }
    }

    /** What the intervention's pyreft class returns from {@code state_dict()}, in its order. */
    private static Map<String, TorchSaveWriter.Stored> stateDict(Intervention iv, int hidden) {
        Map<String, FloatTensor> t = iv.tensors();
        Map<String, TorchSaveWriter.Stored> sd = new LinkedHashMap<>();
        if (iv.type() == ReftType.LOREFT) {
            sd.put("weight", TorchSaveWriter.Stored.of(t.get(ReftType.WEIGHT)));
            sd.put("bias", TorchSaveWriter.Stored.of(t.get(ReftType.BIAS)));
            sd.put("rotate_layer", TorchSaveWriter.Stored.of(t.get(ReftType.ROTATE)));
            return sd;
        }
        // default state_dict: the module's own parameters, its buffers, then each child's
        if (!iv.type().hasWeight()) {
            sd.put("learned_source", TorchSaveWriter.Stored.of(t.get(ReftType.BIAS)));
        }
        sd.put("embed_dim", TorchSaveWriter.Stored.scalarLong(hidden));
        sd.put("interchange_dim", TorchSaveWriter.Stored.scalarLong(hidden));
        if (iv.type().hasRotate()) {
            OrthogonalParametrization.Saved saved = OrthogonalParametrization.of(t.get(ReftType.ROTATE));
            sd.put("rotate_layer.parametrizations.weight.original", TorchSaveWriter.Stored.of(saved.original()));
            sd.put("rotate_layer.parametrizations.weight.0.base", TorchSaveWriter.Stored.of(saved.base()));
        } else {
            sd.put("proj_layer.weight", TorchSaveWriter.Stored.of(t.get(ReftType.PROJ)));
            FloatTensor projBias = t.get(ReftType.PROJ_BIAS);
            if (projBias != null) {
                sd.put("proj_layer.bias", TorchSaveWriter.Stored.of(projBias));
            }
        }
        if (iv.type().hasWeight()) {
            sd.put("learned_source.weight", TorchSaveWriter.Stored.of(t.get(ReftType.WEIGHT)));
            sd.put("learned_source.bias", TorchSaveWriter.Stored.of(t.get(ReftType.BIAS)));
        }
        return sd;
    }

    /** The modules torch's default state_dict() records in {@code _metadata}; LoReFT's own one records none. */
    private static List<String> metadataModules(ReftType type) {
        List<String> rotate = List.of("rotate_layer", "rotate_layer.parametrizations",
                "rotate_layer.parametrizations.weight", "rotate_layer.parametrizations.weight.0");
        List<String> modules = new ArrayList<>();
        switch (type) {
            case LOREFT -> {
                return List.of();
            }
            case DIREFT -> {
                modules.add("");
                modules.addAll(rotate);
                modules.addAll(List.of("learned_source", "dropout", "act_fn"));
            }
            case NOREFT, NODIREFT -> modules.addAll(List.of("", "proj_layer", "learned_source", "dropout", "act_fn"));
            case CONSREFT -> {
                modules.add("");
                modules.addAll(rotate);
            }
            case LOBIREFT -> {
                modules.add("");
                modules.addAll(rotate);
                modules.add("dropout");
            }
        }
        return modules;
    }
}

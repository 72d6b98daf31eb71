package dev.reftserver.intervention;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The native bundle {@code reft-bundle/1}: a zip of {@code reft.json} (what the interventions are) and
 * {@code weights.safetensors} (their tensors, named from reft.json). The writer is canonical: the same bundle
 * always gives the same bytes (fixed entry order, names and timestamps; F32 tensors).
 */
final class NativeBundleFormat {

    static final String FORMAT = "reft-bundle/1";
    static final String MANIFEST = "reft.json";
    static final String WEIGHTS = "weights.safetensors";
    static final String COMPONENT = "block_output";

    private static final JsonMapper JSON =
            JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private NativeBundleFormat() {
    }

    /** Reads a whole native zip (as {@link #write} made it, or an upload's), checked as {@link SafeZip} checks any. */
    static ReftBundle readZip(byte[] zip, BundleLimits limits, String source) {
        Map<String, byte[]> files =
                BundleImporter.bundleRoot(SafeZip.read(zip, limits, ImportBudget.of(limits), source));
        return read(files, limits, source);
    }

    /** One manifest entry, read before any tensor is decoded. */
    private record Entry(int layer, ReftType type, int rank, ApplyTo applyTo, Activation act,
            Map<String, String> tensorNames) {
    }

    /**
     * Parses {@code reft.json} and {@code weights.safetensors} from an archive's files (root already stripped).
     * What the manifest declares is sized against {@code limits} before the weights are decoded.
     */
    static ReftBundle read(Map<String, byte[]> files, BundleLimits limits, String source) {
        byte[] manifest = files.get(MANIFEST);
        byte[] weights = files.get(WEIGHTS);
        if (manifest == null || weights == null) {
            throw format(source, "a native bundle needs both " + MANIFEST + " and " + WEIGHTS);
        }
        String where = source + " " + MANIFEST;
        JsonNode root;
        try {
            root = JSON.readTree(new String(manifest, StandardCharsets.UTF_8));
        } catch (JacksonException ex) {
            throw format(where, "is not valid JSON (" + ex.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw format(where, "is not a JSON object");
        }
        if (!FORMAT.equals(text(root, "format", where))) {
            throw format(where, "format must be \"" + FORMAT + "\", not \"" + root.path("format").asString("") + "\"");
        }
        JsonNode base = root.path("base_model");
        int hidden = integer(base, "hidden_size", where + " base_model");
        int layers = integer(base, "num_layers", where + " base_model");
        if (hidden < 1 || layers < 1) {
            throw format(where, "base_model hidden_size and num_layers must be positive");
        }
        PositionSpec positions = PositionSpec.parse(text(root, "prompt_positions", where));
        JsonNode share = root.path("share_weights");
        if (!share.isBoolean()) {
            throw format(where, "share_weights must be true or false");
        }
        JsonNode list = root.path("interventions");
        if (!list.isArray() || list.isEmpty()) {
            throw format(where, "interventions must be a non-empty list");
        }
        if (list.size() > limits.maxInterventions()) {
            throw new BundleRejectedException("too_large", where + ": " + list.size()
                    + " interventions, more than the limit of " + limits.maxInterventions(), true);
        }
        List<Entry> entries = new ArrayList<>();
        List<BundleValidator.Declared> declared = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            Entry e = entry(list.get(i), where + " intervention " + i);
            entries.add(e);
            declared.add(new BundleValidator.Declared(e.layer(), e.type(), e.rank()));
        }
        BundleValidator.checkSize(declared, hidden, limits, where);
        Map<String, FloatTensor> tensors = Safetensors.read(weights, source + " " + WEIGHTS,
                limits.maxParameterBytes());
        List<Intervention> interventions = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            String iw = where + " intervention " + i;
            Map<String, FloatTensor> roles = new LinkedHashMap<>();
            for (Map.Entry<String, String> n : e.tensorNames().entrySet()) {
                FloatTensor t = tensors.get(n.getValue());
                if (t == null) {
                    throw format(iw, "tensor '" + n.getValue() + "' (" + n.getKey() + ") is not in " + WEIGHTS);
                }
                roles.put(n.getKey(), t);
            }
            ReftType type = e.type();
            FloatTensor primary = roles.get(type.hasRotate() ? ReftType.ROTATE : ReftType.PROJ);
            int actual = primary.rank() != 2 ? -1 : type.hasRotate() ? primary.dim(1) : primary.dim(0);
            if (actual != e.rank()) {
                throw new BundleRejectedException("tensor_shape", iw + ": rank is " + e.rank() + " but tensor '"
                        + (type.hasRotate() ? ReftType.ROTATE : ReftType.PROJ) + "' is " + primary.shapeText());
            }
            interventions.add(type.create(e.layer(), e.applyTo(), e.act(), roles));
        }
        JsonNode promptTemplate = root.path("prompt_template");
        if (!promptTemplate.isMissingNode() && !promptTemplate.isNull() && !promptTemplate.isString()) {
            throw format(where, "'prompt_template' must be a string");
        }
        return new ReftBundle(hidden, layers, positions, share.booleanValue(), interventions,
                promptTemplate.isString() ? promptTemplate.stringValue() : null);
    }

    private static Entry entry(JsonNode n, String iw) {
        if (!n.isObject()) {
            throw format(iw, "is not an object");
        }
        int layer = integer(n, "layer", iw);
        String component = text(n, "component", iw);
        if (!COMPONENT.equals(component)) {
            throw format(iw, "component '" + component + "' is not supported (only " + COMPONENT + ")");
        }
        ReftType type = ReftType.fromWireName(text(n, "type", iw), iw);
        int rank = integer(n, "rank", iw);
        ApplyTo applyTo = ApplyTo.fromWireName(text(n, "apply_to", iw), iw);
        Activation act = n.has("act") ? Activation.fromWireName(text(n, "act", iw), iw) : Activation.LINEAR;
        JsonNode names = n.path("tensors");
        if (!names.isObject()) {
            throw format(iw, "tensors must map roles to tensor names");
        }
        List<String> unknown = BundleValidator.unknownRoles(type, names.propertyNames());
        if (!unknown.isEmpty()) {
            throw format(iw, "tensor roles " + unknown + " do not belong to " + type.wireName());
        }
        Map<String, String> tensorNames = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : names.properties()) {
            if (!e.getValue().isString()) {
                throw format(iw, "tensor name for '" + e.getKey() + "' is not a string");
            }
            tensorNames.put(e.getKey(), e.getValue().stringValue());
        }
        for (String role : type.requiredTensors()) {
            if (!tensorNames.containsKey(role)) {
                throw new BundleRejectedException("tensor_shape", iw + ": tensor role '" + role
                        + "' is missing for " + type.wireName());
            }
        }
        return new Entry(layer, type, rank, applyTo, act, tensorNames);
    }

    /** The canonical native zip of a validated bundle. */
    static byte[] write(ReftBundle bundle) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        ObjectNode base = root.putObject("base_model");
        base.put("hidden_size", bundle.hiddenSize());
        base.put("num_layers", bundle.numLayers());
        root.put("prompt_positions", bundle.positions().toString());
        root.put("share_weights", bundle.shareWeights());
        if (bundle.promptTemplate() != null) {
            root.put("prompt_template", bundle.promptTemplate());
        }
        ArrayNode list = root.putArray("interventions");
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        for (int i = 0; i < bundle.interventions().size(); i++) {
            Intervention iv = bundle.interventions().get(i);
            ObjectNode n = list.addObject();
            n.put("layer", iv.layer());
            n.put("component", COMPONENT);
            n.put("type", iv.type().wireName());
            n.put("rank", iv.rank());
            n.put("apply_to", iv.applyTo().wireName());
            n.put("act", iv.act().wireName());
            ObjectNode names = n.putObject("tensors");
            for (Map.Entry<String, FloatTensor> e : iv.tensors().entrySet()) {
                String name = i + "." + e.getKey();
                names.put(e.getKey(), name);
                tensors.put(name, e.getValue());
            }
        }
        byte[] manifest = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root)
                .getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            put(zip, MANIFEST, manifest);
            put(zip, WEIGHTS, Safetensors.write(tensors));
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return bytes.toByteArray();
    }

    private static void put(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setTimeLocal(SafeZip.WRITTEN_AT);
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }

    private static String text(JsonNode n, String field, String where) {
        JsonNode v = n.path(field);
        if (!v.isString()) {
            throw format(where, "'" + field + "' must be a string");
        }
        return v.stringValue();
    }

    private static int integer(JsonNode n, String field, String where) {
        JsonNode v = n.path(field);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw format(where, "'" + field + "' must be an integer");
        }
        return v.intValue();
    }

    private static BundleRejectedException format(String where, String what) {
        return new BundleRejectedException("bundle_format", where + ": " + what);
    }
}

package dev.reftserver.intervention;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The closed set of ReFT types, with their names in the native format and in pyreft, and the tensors each holds
 * (S = {@code rotate} [d,r], W = {@code weight} [r,d], b = {@code bias} [r], P = {@code proj} [r,d],
 * p = {@code proj_bias} [r]).
 */
enum ReftType {
    LOREFT("loreft", "LoreftIntervention", List.of("rotate", "weight", "bias")),
    DIREFT("direft", "DireftIntervention", List.of("rotate", "weight", "bias")),
    NODIREFT("nodireft", "NodireftIntervention", List.of("proj", "weight", "bias")),
    NOREFT("noreft", "NoreftIntervention", List.of("proj", "weight", "bias")),
    CONSREFT("consreft", "ConsreftIntervention", List.of("rotate", "bias")),
    LOBIREFT("lobireft", "LobireftIntervention", List.of("rotate", "bias"));

    static final String ROTATE = "rotate";
    static final String WEIGHT = "weight";
    static final String BIAS = "bias";
    static final String PROJ = "proj";
    static final String PROJ_BIAS = "proj_bias";

    /** {@code <class 'pyreft.interventions.LoreftIntervention'>}, or the bare dotted or simple class name. */
    private static final Pattern PYREFT_CLASS =
            Pattern.compile("(?:<class ')?(?:pyreft\\.interventions\\.)?([A-Za-z_][A-Za-z0-9_]*)(?:'>)?");

    private final String wireName;
    private final String pyreftClass;
    private final List<String> requiredTensors;

    ReftType(String wireName, String pyreftClass, List<String> requiredTensors) {
        this.wireName = wireName;
        this.pyreftClass = pyreftClass;
        this.requiredTensors = requiredTensors;
    }

    String wireName() {
        return wireName;
    }

    String pyreftClass() {
        return pyreftClass;
    }

    List<String> requiredTensors() {
        return requiredTensors;
    }

    /** Tensors a bundle may add to the required ones. */
    List<String> optionalTensors() {
        return this == NOREFT ? List.of(PROJ_BIAS) : List.of();
    }

    /** Whether S must have orthonormal columns. */
    boolean hasRotate() {
        return requiredTensors.contains(ROTATE);
    }

    /** Whether the type has the learned linear map W h + b and so an activation. */
    boolean hasWeight() {
        return requiredTensors.contains(WEIGHT);
    }

    static ReftType fromWireName(String name, String where) {
        for (ReftType t : values()) {
            if (t.wireName.equals(name)) {
                return t;
            }
        }
        throw new BundleRejectedException("unknown_type", where + ": unknown intervention type '" + name
                + "' (known: loreft, direft, nodireft, noreft, consreft, lobireft)");
    }

    /** Maps a pyvene {@code intervention_types} entry to a type. */
    static ReftType fromPyreftTypeString(String text, String where) {
        Matcher m = PYREFT_CLASS.matcher(text == null ? "" : text.trim());
        if (m.matches()) {
            for (ReftType t : values()) {
                if (t.pyreftClass.equals(m.group(1))) {
                    return t;
                }
            }
        }
        throw new BundleRejectedException("unknown_type", where + ": unsupported intervention type '" + text
                + "' (supported: pyreft.interventions LoreftIntervention, DireftIntervention, NodireftIntervention,"
                + " NoreftIntervention, ConsreftIntervention, LobireftIntervention)");
    }

    /** Builds the intervention from tensors already checked by {@link BundleValidator}. */
    Intervention create(int layer, ApplyTo applyTo, Activation act, Map<String, FloatTensor> t) {
        return switch (this) {
            case LOREFT -> new LoreftIntervention(layer, applyTo, act, t.get(ROTATE), t.get(WEIGHT), t.get(BIAS));
            case DIREFT -> new DireftIntervention(layer, applyTo, act, t.get(ROTATE), t.get(WEIGHT), t.get(BIAS));
            case NODIREFT -> new NodireftIntervention(layer, applyTo, act, t.get(PROJ), t.get(WEIGHT), t.get(BIAS));
            case NOREFT -> new NoreftIntervention(
                    layer, applyTo, act, t.get(PROJ), t.get(WEIGHT), t.get(BIAS), t.get(PROJ_BIAS));
            case CONSREFT -> new ConsreftIntervention(layer, applyTo, t.get(ROTATE), t.get(BIAS));
            case LOBIREFT -> new LobireftIntervention(layer, applyTo, t.get(ROTATE), t.get(BIAS));
        };
    }
}

package dev.reftserver.intervention;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ModelShape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A native bundle made ready for application: validated, and its parameters packed per layer into one fp32 device
 * array {@code [k, r, 2d + 3]} (rows A | W | b | e | m of {@link PackedIntervention}, ranks zero-padded to the
 * layer's largest). Owns its own sub-manager; close it to free the device memory.
 */
public final class LoadedBundle implements AutoCloseable {

    /** The bundle's interventions at one layer, in bundle order. */
    record LayerParams(int[] interventions, int rank, NDArray packed) {
    }

    private final ReftBundle bundle;
    private final NDManager manager;
    private final Map<Integer, LayerParams> layers;

    private LoadedBundle(ReftBundle bundle, NDManager manager, Map<Integer, LayerParams> layers) {
        this.bundle = bundle;
        this.manager = manager;
        this.layers = layers;
    }

    /**
     * @param nativeZip a {@code reft-bundle/1} zip (as {@link BundleImporter} produced it)
     * @param shape     the base model it must fit
     * @param limits    the limits its upload was accepted under (the same ones: a bundle the importer took loads)
     * @param parent    the manager on the model's device; the bundle lives in a sub-manager of it
     * @throws BundleRejectedException if the bytes are not a valid bundle for {@code shape}
     */
    public static LoadedBundle load(byte[] nativeZip, ModelShape shape, BundleLimits limits, NDManager parent) {
        ReftBundle bundle = NativeBundleFormat.readZip(nativeZip, limits, "stored bundle");
        BundleValidator.validate(bundle, shape, limits, "stored bundle");
        NDManager manager = parent.newSubManager();
        try {
            return new LoadedBundle(bundle, manager, pack(bundle, manager));
        } catch (RuntimeException ex) {
            manager.close();
            throw ex;
        }
    }

    private static Map<Integer, LayerParams> pack(ReftBundle bundle, NDManager manager) {
        Map<Integer, List<Integer>> byLayer = new TreeMap<>();
        List<Intervention> all = bundle.interventions();
        for (int i = 0; i < all.size(); i++) {
            byLayer.computeIfAbsent(all.get(i).layer(), l -> new ArrayList<>()).add(i);
        }
        int d = bundle.hiddenSize();
        int width = 2 * d + 3;
        Map<Integer, LayerParams> out = new TreeMap<>();
        for (Map.Entry<Integer, List<Integer>> e : byLayer.entrySet()) {
            List<Integer> idx = e.getValue();
            int rank = idx.stream().mapToInt(i -> all.get(i).rank()).max().orElseThrow();
            // BundleValidator.checkSize bounded k * r * (2d + 3) * 4 by maxParameterBytes, so this fits an int
            float[] packed = new float[Math.toIntExact((long) idx.size() * rank * width)];
            for (int s = 0; s < idx.size(); s++) {
                PackedIntervention p = all.get(idx.get(s)).pack();
                for (int j = 0; j < p.rank(); j++) {
                    int row = (s * rank + j) * width;
                    System.arraycopy(p.a(), j * d, packed, row, d);
                    System.arraycopy(p.w(), j * d, packed, row + d, d);
                    packed[row + 2 * d] = p.b()[j];
                    packed[row + 2 * d + 1] = p.e()[j];
                    packed[row + 2 * d + 2] = p.m();
                }
            }
            NDArray array = manager.create(packed, new Shape(idx.size(), rank, width));
            out.put(e.getKey(), new LayerParams(idx.stream().mapToInt(Integer::intValue).toArray(), rank, array));
        }
        return Collections.unmodifiableMap(out);
    }

    /** The prompt template the bundle was trained with (one {@code %s}), or null when it declares none. */
    public String promptTemplate() {
        return bundle.promptTemplate();
    }

    public BundleSummary summary() {
        return bundle.summary();
    }

    /** Bytes its packed parameters take on the device (what the bundle cache budgets). */
    public long deviceBytes() {
        long total = 0;
        for (LayerParams p : layers.values()) {
            total += p.packed().size() * p.packed().getDataType().getNumOfBytes();
        }
        return total;
    }

    /** The device its parameters live on. */
    public Device device() {
        return manager.getDevice();
    }

    ReftBundle bundle() {
        return bundle;
    }

    /** Its parameters at {@code layer}, or null if it does not intervene there. */
    LayerParams layer(int layer) {
        return layers.get(layer);
    }

    @Override
    public void close() {
        manager.close();
    }
}

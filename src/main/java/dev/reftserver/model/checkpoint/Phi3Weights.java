package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ModelConfig;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Phi-3 stores q, k and v as one {@code qkv_proj} and gate and up as one {@code gate_up_proj}
 * (HF modeling_phi3.py); split into Llama's names, so the Llama loader fuses them its own way.
 */
final class Phi3Weights {

    private Phi3Weights() {
    }

    static Map<String, LazyTensor> unfuse(Map<String, LazyTensor> in, ModelConfig c) {
        int d = c.hiddenSize();
        int q = c.numHeads() * c.headDim();
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        Map<String, LazyTensor> out = new LinkedHashMap<>(in);
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            LazyTensor qkv = take(out, p + "self_attn.qkv_proj.weight", q + 2L * kv, d);
            // Rows [0, q) are the queries, then the keys, then the values.
            put(out, p + "self_attn.q_proj.weight", qkv, 0, q, d);
            put(out, p + "self_attn.k_proj.weight", qkv, q, q + kv, d);
            put(out, p + "self_attn.v_proj.weight", qkv, q + kv, q + 2 * kv, d);
            LazyTensor gateUp = take(out, p + "mlp.gate_up_proj.weight", 2L * inter, d);
            // The first half is the gate (the one that goes through the activation), the second up.
            put(out, p + "mlp.gate_proj.weight", gateUp, 0, inter, d);
            put(out, p + "mlp.up_proj.weight", gateUp, inter, 2 * inter, d);
        }
        return out;
    }

    private static LazyTensor take(Map<String, LazyTensor> t, String name, long rows, long cols) {
        LazyTensor x = t.remove(name);
        if (x == null) {
            throw new CheckpointException("Phi-3 checkpoint: tensor '" + name + "' is missing");
        }
        if (!Arrays.equals(x.shape(), new long[] {rows, cols})) {
            throw new CheckpointException("Phi-3 checkpoint: tensor '" + name + "' has shape "
                    + Arrays.toString(x.shape())
                    + ", expected [" + rows + ", " + cols + "]");
        }
        return x;
    }

    /** Rows [r0, r1) of {@code from}, read when the loader asks for them. */
    private static void put(Map<String, LazyTensor> t, String name, LazyTensor from, int r0, int r1, int cols) {
        t.put(name, new LazyTensor(name, new long[] {r1 - r0, cols},
                () -> Arrays.copyOfRange(from.values().get(), r0 * cols, r1 * cols),
                m -> {
                    try (NDManager whole = m.newSubManager()) {
                        NDArray rows = from.readNative(whole).get(r0 + ":" + r1).duplicate();
                        rows.attach(m);
                        return new StoredTensor(rows, "F32", rows);
                    }
                },
                () -> StoredRows.slice(from.openRows(), r0, r1 - r0), null));
    }
}

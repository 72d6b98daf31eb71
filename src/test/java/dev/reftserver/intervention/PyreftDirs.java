package dev.reftserver.intervention;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/** Builds pyreft save directories (config.json + intkey_*.bin) in memory, in either pyvene key naming. */
final class PyreftDirs {

    private PyreftDirs() {
    }

    /** pyvene's keys for interventions at {@code layers} (config order), new or older dotted naming. */
    static List<String> keys(List<Integer> layers, boolean dotted) {
        Map<String, Integer> counter = new HashMap<>();
        List<String> keys = new ArrayList<>();
        for (int layer : layers) {
            String proposal = dotted ? "layer." + layer + ".comp.block_output.unit.pos.nunit.1"
                    : "layer_" + layer + "_comp_block_output_unit_pos_nunit_1";
            int n = counter.merge(proposal, 1, Integer::sum) - 1;
            keys.add(proposal + "#" + n);
        }
        return keys;
    }

    static ObjectNode config(String pyreftClass, List<Integer> layers, int rank, int hidden, boolean dotted) {
        ObjectNode c = Fixtures.JSON.createObjectNode();
        ArrayNode sources = c.putArray("intervention_constant_sources");
        ArrayNode dims = c.putArray("intervention_dimensions");
        ArrayNode types = c.putArray("intervention_types");
        c.put("mode", "parallel");
        ArrayNode reps = c.putArray("representations");
        for (int layer : layers) {
            sources.add(true);
            dims.add(hidden);
            types.add("<class 'pyreft.interventions." + pyreftClass + "'>");
            ArrayNode r = reps.addArray();
            r.add(layer).add("block_output").add("pos").add(1).add(rank);
            for (int i = 0; i < 9; i++) {
                r.addNull();
            }
        }
        ArrayNode sorted = c.putArray("sorted_keys");
        keys(layers, dotted).forEach(sorted::add);
        c.put("transformers_version", "5.18.0");
        return c;
    }

    /** The zipped directory: config.json and one .bin per state dict, in key order. */
    static byte[] zip(ObjectNode config, List<Map<String, TorchSaveWriter.Stored>> stateDicts) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", Fixtures.JSON.writeValueAsString(config).getBytes(StandardCharsets.UTF_8));
        int i = 0;
        for (var keyNode : config.get("sorted_keys")) {
            String key = keyNode.stringValue();
            files.put("intkey_" + key + ".bin", TorchSaveWriter.save("intkey_" + key, stateDicts.get(i++)));
        }
        return Fixtures.zip(files);
    }

    static float[] gaussian(Random rnd, int n, double scale) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (rnd.nextGaussian() * scale);
        }
        return out;
    }

    /** d x r with orthonormal columns (modified Gram-Schmidt on Gaussian columns), row-major, in double. */
    static double[][] orthonormalColumns(Random rnd, int d, int r) {
        double[][] m = new double[d][r];
        for (int k = 0; k < d; k++) {
            for (int j = 0; j < r; j++) {
                m[k][j] = rnd.nextGaussian();
            }
        }
        for (int j = 0; j < r; j++) {
            for (int i = 0; i < j; i++) {
                double dot = 0;
                for (int k = 0; k < d; k++) {
                    dot += m[k][i] * m[k][j];
                }
                for (int k = 0; k < d; k++) {
                    m[k][j] -= dot * m[k][i];
                }
            }
            double norm = 0;
            for (int k = 0; k < d; k++) {
                norm += m[k][j] * m[k][j];
            }
            norm = Math.sqrt(norm);
            for (int k = 0; k < d; k++) {
                m[k][j] /= norm;
            }
        }
        return m;
    }

    static FloatTensor toTensor(double[][] m) {
        int rows = m.length;
        int cols = m[0].length;
        float[] out = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[i * cols + j] = (float) m[i][j];
            }
        }
        return FloatTensor.of(out, rows, cols);
    }
}

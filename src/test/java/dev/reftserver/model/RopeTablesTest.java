package dev.reftserver.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.reftserver.model.checkpoint.HfConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * RoPE's cos and sin rows are transformers' bit for bit ({@code reference/rope-tables.json}, written by
 * {@code src/test/scripts/hf_rope_tables.py}): the same float32 inverse frequencies (exponent in float32, 1 / x in
 * float32) and libtorch's own float32 cos and sin, at positions up to 131,071, where one float32 step of a frequency
 * moves the angle by about 1e-4.
 */
class RopeTablesTest {

    @Test
    void tablesAreTransformersBitForBit() {
        JsonObject ref = ReferenceFiles.json("reference/rope-tables.json");
        JsonArray positions = ref.getAsJsonArray("positions");
        int rows = positions.get(positions.size() - 1).getAsInt() + 1;
        for (Map.Entry<String, com.google.gson.JsonElement> e : ref.getAsJsonObject("models").entrySet()) {
            String dir = "reference/" + e.getKey();
            ModelConfig c = HfConfig.parse(ReferenceFiles.json(dir + "/config.json"), null, dir);
            Rope rope = c.rope();
            int hd = c.headDim();
            float[] inv = rope.inverseFrequencies(rope.rotaryDim(hd), c.maxPositions());
            try (NDManager m = NDManager.newBaseManager()) {
                for (String which : new String[] {"cos", "sin"}) {
                    NDArray table = rope.table(m, inv, rows, hd, which.equals("cos"));
                    JsonArray want = e.getValue().getAsJsonObject().getAsJsonArray(which);
                    for (int i = 0; i < positions.size(); i++) {
                        int pos = positions.get(i).getAsInt();
                        float[] got = table.get(pos).toFloatArray();
                        JsonArray bits = want.get(i).getAsJsonArray();
                        int[] gotBits = new int[got.length];
                        int[] wantBits = new int[bits.size()];
                        for (int j = 0; j < got.length; j++) {
                            gotBits[j] = Float.floatToRawIntBits(got[j]);
                            wantBits[j] = (int) bits.get(j).getAsLong();
                        }
                        assertThat(gotBits).as("%s %s at position %d", e.getKey(), which, pos)
                                .containsExactly(wantBits);
                    }
                }
            }
        }
    }
}

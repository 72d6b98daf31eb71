package dev.reftserver.model.llama;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonParser;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.checkpoint.HfConfig;
import dev.reftserver.model.ops.NativeOps;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The block's RoPE ({@code y * cos + swapHalves(y) * sin'}, the sign of rotate_half kept in the sin table) gives HF's
 * {@code y * cos + rotate_half(y) * sin} bit for bit, written out here in plain floats from the unsigned tables:
 * for a whole head and for Phi-3's partial rotation (channels past the rotary dimension pass through), in the
 * inference ops and in the training forward's DJL ops.
 */
class RopeRotationTest {

    @ParameterizedTest
    @CsvSource({
        "LlamaForCausalLM, '', 16, 16",
        "Phi3ForCausalLM, ', \"partial_rotary_factor\": 0.5', 16, 8",
        "Phi3ForCausalLM, ', \"partial_rotary_factor\": 0.75', 16, 12",
    })
    void rotationIsTransformersFormulaBitForBit(String architecture, String extra, int headDim, int rotaryDim) {
        ModelConfig c = HfConfig.parse(JsonParser.parseString("""
                {"architectures": ["%s"], "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
                 "head_dim": %d, "num_hidden_layers": 1, "intermediate_size": 64, "vocab_size": 100,
                 "max_position_embeddings": 4096, "rope_theta": 10000.0%s}""".formatted(architecture, headDim,
                extra)).getAsJsonObject(), null, "t");
        assertThat(c.rope().rotaryDim(c.headDim())).isEqualTo(rotaryDim);
        int rows = 3;
        int heads = 2;
        int[] positions = {0, 17, 4095};
        Random random = new Random(7);
        float[] y = new float[rows * heads * headDim];
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) random.nextGaussian() * 3;
        }
        try (NDManager m = NDManager.newBaseManager()) {
            RopeTables tables = RopeTables.of(c, new Placement(m, DataType.FLOAT32, false), DataType.FLOAT32);
            float[] inv = c.rope().inverseFrequencies(rotaryDim, c.maxPositions());
            float[] cosAll = c.rope().table(m, inv, c.maxPositions(), headDim, true).toFloatArray();
            float[] sinAll = c.rope().table(m, inv, c.maxPositions(), headDim, false).toFloatArray();
            float[] want = new float[y.length];
            int half = rotaryDim / 2;
            for (int r = 0; r < rows; r++) {
                for (int h = 0; h < heads; h++) {
                    int base = (r * heads + h) * headDim;
                    int row = positions[r] * headDim;
                    for (int j = 0; j < headDim; j++) {
                        // rotate_half over the rotating channels; the rest of the head is not rotated.
                        float rotated = j < half ? -y[base + j + half] : j < rotaryDim ? y[base + j - half] : 0f;
                        want[base + j] = j < rotaryDim
                                ? y[base + j] * cosAll[row + j] + rotated * sinAll[row + j]
                                : y[base + j];
                    }
                }
            }
            NDArray index = m.create(new long[] {0, 17, 4095});
            NDArray cos = tables.cos().get(index).reshape(rows, 1, 1, headDim);
            NDArray sin = tables.sin().get(index).reshape(rows, 1, 1, headDim);
            NDArray input = m.create(y, new Shape(rows, 1, heads, headDim));
            float[] got;
            try (NativeOps op = new NativeOps()) {
                long in = NativeOps.handle(input);
                long rotated = tables.swapHalves(op, in, 4);
                op.muli(rotated, NativeOps.handle(sin));
                long roped = op.mul(in, NativeOps.handle(cos));
                op.addi(roped, rotated);
                got = op.keep(roped, m).toFloatArray();
            }
            float[] trained = input.mul(cos).add(tables.swapHalves(input).mul(sin)).toFloatArray();
            assertThat(bits(got)).isEqualTo(bits(want));
            assertThat(bits(trained)).isEqualTo(bits(want));
        }
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = Float.floatToIntBits(v[i]);
        }
        return b;
    }
}

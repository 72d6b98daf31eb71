package dev.reftserver.model.llama;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ops.Linear;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.ops.Split;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.Halves;
import dev.reftserver.model.checkpoint.HfCheckpointReader;
import dev.reftserver.model.checkpoint.Safetensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The weights the loader folds and lays out natively equal, bit for bit, the fold computed in Java from the values
 * the Java reader gives: fused q/k/v times the input norm (queries times the attention scale first), gate/up times
 * the MLP norm, the output layer times the final norm, transposed to input-major and cut into parts (float32
 * weights). bfloat16 weights are not folded: they are the stored rows fused, output-major and cut, rounded to
 * nearest even, and the norm weights and the attention scale are kept for the activations. For a float32
 * checkpoint and the same one stored as BF16 and as F16.
 */
class LlamaWeightsFoldTest {

    private static final String TINY = "reference/tiny/qwen2";
    private static final int PARTS = 2;

    @TempDir
    Path tmp;

    /**
     * With tied embeddings the table is held once, as the output layer's parts: any ids, repeated and in any order
     * across the parts, read the table's rows exactly, and the output layer is the table transposed with the final
     * norm applied before it rather than folded in.
     */
    @ParameterizedTest
    @CsvSource({"llama3-rope, 1", "llama3-rope, 3", "gemma2, 2"})
    void tiedEmbeddingIsReadFromTheOutputLayer(String name, int parts) {
        Path dir = ReferenceFiles.resource("reference/models-next/" + name);
        Checkpoint ckpt = HfCheckpointReader.read(dir);
        var c = ckpt.config();
        assertThat(c.tiedEmbeddings()).isTrue();
        float[] table = Safetensors.open(dir.resolve("model.safetensors")).read("model.embed_tokens.weight").data();
        int d = c.hiddenSize();
        int v = c.vocabSize();
        long[] ids = {v - 1, 0, 5, v / 2, 5, v - 1, 1, v / 3 + 1};
        float scale = c.block().gemmaNorms() ? (float) Math.sqrt(d) : 1f;
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            LlamaWeights w = new LlamaWeights(m, ckpt, DataType.FLOAT32, parts, false, false);
            assertThat(w.embed).isNull();
            assertThat(w.headNorm).isNotNull();
            float[] got = op.keep(w.tokens.rows(op, m, ids), m).toFloatArray();
            float[] want = new float[ids.length * d];
            for (int i = 0; i < ids.length; i++) {
                for (int j = 0; j < d; j++) {
                    // Gemma 2's sqrt(d) is the same float32 product HF computes.
                    want[i * d + j] = table[(int) ids[i] * d + j] * scale;
                }
            }
            assertThat(got).containsExactly(want);
        }
    }

    @ParameterizedTest
    @CsvSource({"F32, false", "F32, true", "BF16, false", "BF16, true", "F16, false", "F16, true"})
    void foldsAsJavaDoes(String stored, boolean bfloat16) throws IOException {
        Path dir = stored.equals("F32") ? ReferenceFiles.resource(TINY) : restored(ReferenceFiles.resource(TINY), stored);
        Checkpoint ckpt = HfCheckpointReader.read(dir);
        Safetensors st = Safetensors.open(dir.resolve("model.safetensors"));
        var c = ckpt.config();
        int d = c.hiddenSize();
        int q = c.numHeads() * c.headDim();
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        // bfloat16 weights are the stored rows: the norms and the attention scale are applied to the activations
        float scale = bfloat16 ? 1f : (float) c.block().queryScale();
        try (NDManager m = NDManager.newBaseManager()) {
            LlamaWeights w = new LlamaWeights(m, ckpt, DataType.FLOAT32, PARTS, bfloat16, false);
            assertThat(w.attnParts).isEqualTo(PARTS);
            assertThat(w.queryScale).isEqualTo(bfloat16 ? c.block().queryScale() : 1.0);
            assertThat(w.bfloat16Weights).isEqualTo(bfloat16);
            assertBits(w.embed, st.read("model.embed_tokens.weight").data(), bfloat16);
            for (int l = 0; l < c.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                float[] g = normOrOnes(w.inputNorm, l, st.read(p + "input_layernorm.weight").data());
                float[] wq = scaled(st.read(p + "self_attn.q_proj.weight").data(), scale);
                float[] wk = st.read(p + "self_attn.k_proj.weight").data();
                float[] wv = st.read(p + "self_attn.v_proj.weight").data();
                float[] wo = st.read(p + "self_attn.o_proj.weight").data();
                float[] bq = scaled(st.read(p + "self_attn.q_proj.bias").data(), scale);
                int qPart = q / PARTS;
                int kvPart = kv / PARTS;
                for (int a = 0; a < PARTS; a++) {
                    int q0 = a * qPart;
                    int k0 = a * kvPart;
                    float[] fused = concat(Split.rows(wq, d, q0, q0 + qPart), Split.rows(wk, d, k0, k0 + kvPart),
                            Split.rows(wv, d, k0, k0 + kvPart));
                    assertBits(w.wqkv[l][a], laidOut(columnsTimes(fused, g), fused.length / d, d, bfloat16),
                            bfloat16);
                    assertBits(w.wo[l][a], laidOut(Split.columns(wo, d, q, q0, q0 + qPart), d, qPart, bfloat16),
                            bfloat16);
                    assertBits(w.bqkv[l][a], concat(Split.range(bq, q0, q0 + qPart),
                            Split.range(st.read(p + "self_attn.k_proj.bias").data(), k0, k0 + kvPart),
                            Split.range(st.read(p + "self_attn.v_proj.bias").data(), k0, k0 + kvPart)), false);
                }
                float[] mlpNorm = normOrOnes(w.mlpNorm, l, st.read(p + "post_attention_layernorm.weight").data());
                float[] gate = st.read(p + "mlp.gate_proj.weight").data();
                float[] up = st.read(p + "mlp.up_proj.weight").data();
                float[] down = st.read(p + "mlp.down_proj.weight").data();
                for (int part = 0; part < w.mlpParts; part++) {
                    int i0 = w.channels[part];
                    int i1 = w.channels[part + 1];
                    float[] gateUp = concat(Split.rows(gate, d, i0, i1), Split.rows(up, d, i0, i1));
                    assertBits(w.wGateUp[l][part], laidOut(columnsTimes(gateUp, mlpNorm), 2 * (i1 - i0), d,
                            bfloat16), bfloat16);
                    assertBits(w.wDown[l][part], laidOut(Split.columns(down, d, inter, i0, i1), d, i1 - i0,
                            bfloat16), bfloat16);
                }
            }
            float[] head = st.read("lm_head.weight").data();
            float[] finalNorm = st.read("model.norm.weight").data();
            if (bfloat16) {
                assertThat(w.headNorm.toFloatArray()).containsExactly(finalNorm);
                finalNorm = ones(d);
            }
            int[] vocab = Split.ranges(c.vocabSize(), w.headParts);
            for (int h = 0; h < w.headParts; h++) {
                assertBits(w.lmHead[h], laidOut(columnsTimes(Split.rows(head, d, vocab[h], vocab[h + 1]),
                        finalNorm), vocab[h + 1] - vocab[h], d, bfloat16), bfloat16);
            }
        }
    }

    /**
     * On a CPU each bfloat16 projection is folded into a reused buffer and packed from there, piece by piece, as it
     * is read: every part's product equals, bit for bit, that of the same fold kept whole and packed afterwards,
     * also for an output layer wider than one packed piece (a 70,000-token vocabulary on one part: three pieces).
     */
    @ParameterizedTest
    @CsvSource({"2, 0", "1, 70000"})
    void packingEachFoldAsItIsMadeEqualsPackingTheKeptFold(int parts, int vocab) throws IOException {
        Checkpoint ckpt = HfCheckpointReader.read(restored(ReferenceFiles.resource(TINY), "BF16", vocab));
        var c = ckpt.config();
        int d = c.hiddenSize();
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            LlamaWeights packed = new LlamaWeights(m, ckpt, DataType.FLOAT32, parts, true, true);
            LlamaWeights kept = new LlamaWeights(m, ckpt, DataType.FLOAT32, parts, true, false);
            assertThat(packed.wqkv[0][0]).isNull();
            int qPart = c.numHeads() * c.headDim() / packed.attnParts;
            Random rnd = new Random(11);
            for (int l = 0; l < c.numLayers(); l++) {
                assertSameProducts(op, m, rnd, packed.qkvProj[l],
                        Linear.packing(Linear.Cut.COLUMNS, kept.wqkv[l], kept.bqkv[l]), d);
                assertSameProducts(op, m, rnd, packed.oProj[l], Linear.packing(Linear.Cut.ROWS, kept.wo[l],
                        kept.bo == null ? null : new NDArray[] {kept.bo[l]}), qPart);
                assertSameProducts(op, m, rnd, packed.gateUpProj[l], Linear.packing(Linear.Cut.COLUMNS,
                        kept.wGateUp[l], kept.bGateUp == null ? null : kept.bGateUp[l]), d);
                for (int p = 0; p < packed.mlpParts; p++) {
                    NDArray x = random(m, rnd, packed.channels[p + 1] - packed.channels[p]);
                    Linear reference = Linear.packing(Linear.Cut.ROWS, new NDArray[] {kept.wDown[l][p]}, null);
                    assertThat(product(op, m, packed.downProj[l], x, p)).isEqualTo(product(op, m, reference, x, 0));
                }
            }
            assertSameProducts(op, m, rnd, packed.lmHeadProj, Linear.packing(Linear.Cut.COLUMNS, kept.lmHead, null),
                    d);
            if (vocab > 0) {
                assertThat(Linear.pieceBounds(vocab)).hasSize(4);
            }
        }
    }

    /** Each part's product of a random input of width {@code in}, with part 0's bias where cut by rows. */
    private static void assertSameProducts(NativeOps op, NDManager m, Random rnd, Linear got, Linear want, int in) {
        assertThat(got.parts()).isEqualTo(want.parts());
        for (int p = 0; p < got.parts(); p++) {
            NDArray x = random(m, rnd, in);
            assertThat(product(op, m, got, x, p)).as("part %d", p).isEqualTo(product(op, m, want, x, p));
        }
    }

    private static float[] product(NativeOps op, NDManager m, Linear linear, NDArray x, int part) {
        return op.keep(linear.apply(op, NativeOps.handle(x), part), m).toFloatArray();
    }

    private static NDArray random(NDManager m, Random rnd, int in) {
        float[] x = new float[3 * in];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return m.create(x, new Shape(3, in));
    }

    /**
     * The norm weight a projection folds in: {@code stored} itself, or, where the model keeps it as a vector
     * ({@code kept} not null: bfloat16 weights), ones, after checking the kept vector is {@code stored}.
     */
    private static float[] normOrOnes(NDArray[] kept, int layer, float[] stored) {
        if (kept == null) {
            return stored;
        }
        assertThat(kept[layer].toFloatArray()).containsExactly(stored);
        return ones(stored.length);
    }

    private static float[] ones(int n) {
        float[] one = new float[n];
        java.util.Arrays.fill(one, 1f);
        return one;
    }

    /**
     * An output-major matrix [rows, cols] as the model holds it: float32 weights input-major (transposed), bfloat16
     * ones output-major, as stored.
     */
    private static float[] laidOut(float[] outputMajor, int rows, int cols, boolean bfloat16) {
        return bfloat16 ? outputMajor : Split.transpose(outputMajor, rows, cols);
    }

    /** The array's values (read back through float32 when it is bfloat16) equal {@code expected}, bit for bit. */
    private static void assertBits(NDArray actual, float[] expected, boolean bfloat16) {
        float[] values;
        if (bfloat16) {
            try (NDManager tmp = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
                values = op.keep(op.float32(NativeOps.handle(actual)), tmp).toFloatArray();
            }
            expected = roundedToBfloat16(expected);
        } else {
            values = actual.toFloatArray();
        }
        assertThat(bits(values)).containsExactly(bits(expected));
    }

    /** Round to nearest even at bfloat16's 8-bit significand (no NaNs here). */
    private static float[] roundedToBfloat16(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            int b = Float.floatToRawIntBits(v[i]);
            out[i] = Float.intBitsToFloat((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000);
        }
        return out;
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = Float.floatToRawIntBits(v[i]);
        }
        return b;
    }

    /** W diag(g) on a row-major [out, in] matrix, as float32 products. */
    private static float[] columnsTimes(float[] w, float[] g) {
        float[] out = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            out[i] = w[i] * g[i % g.length];
        }
        return out;
    }

    private static float[] scaled(float[] w, float s) {
        float[] out = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            out[i] = w[i] * s;
        }
        return out;
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] all = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    /**
     * The tiny model's directory with every tensor stored as {@code dtype}: BF16 (rounded to nearest even) or F16
     * (truncated: any half bits do, the fold is compared with what the Java reader reads), in a temp dir.
     */
    private Path restored(Path source, String dtype) throws IOException {
        return restored(source, dtype, 0);
    }

    /**
     * As {@link #restored(Path, String)}, with the vocabulary grown to {@code vocab} tokens (0: as it is): the
     * embedding and output layer get rows of small pseudo-random values.
     */
    private Path restored(Path source, String dtype, int vocab) throws IOException {
        Path dir = tmp.resolve(dtype + vocab);
        Files.createDirectories(dir);
        JsonObject config = JsonParser.parseString(Files.readString(source.resolve("config.json"))).getAsJsonObject();
        if (vocab > 0) {
            config.addProperty("vocab_size", vocab);
        }
        Files.writeString(dir.resolve("config.json"), config.toString());
        if (Files.exists(source.resolve("generation_config.json"))) {
            Files.copy(source.resolve("generation_config.json"), dir.resolve("generation_config.json"));
        }
        Safetensors st = Safetensors.open(source.resolve("model.safetensors"));
        JsonObject header = new JsonObject();
        long offset = 0;
        for (String name : st.names()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", dtype);
            JsonArray shape = new JsonArray();
            long n = 1;
            long[] dims = st.shape(name);
            for (int i = 0; i < dims.length; i++) {
                long s = i == 0 && vocab > 0 && grows(name) ? vocab : dims[i];
                shape.add(s);
                n *= s;
            }
            t.add("shape", shape);
            JsonArray off = new JsonArray();
            off.add(offset);
            offset += 2 * n;
            off.add(offset);
            t.add("data_offsets", off);
            header.add(name, t);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + json.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json);
        for (String name : st.names()) {
            float[] values = st.read(name).data();
            if (vocab > 0 && grows(name)) {
                int d = (int) st.shape(name)[1];
                int stored = values.length;
                values = java.util.Arrays.copyOf(values, vocab * d);
                java.util.Random rnd = new java.util.Random(name.hashCode());
                for (int i = stored; i < values.length; i++) {
                    values[i] = (float) (0.02 * rnd.nextGaussian());
                }
            }
            if (dtype.equals("BF16")) {
                for (float v : roundedToBfloat16(values)) {
                    out.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
                }
            } else {
                for (float v : values) {
                    out.putShort(Halves.truncated(v));
                }
            }
        }
        Files.write(dir.resolve("model.safetensors"), out.array());
        return dir;
    }

    private static boolean grows(String name) {
        return name.equals("model.embed_tokens.weight") || name.equals("lm_head.weight");
    }
}

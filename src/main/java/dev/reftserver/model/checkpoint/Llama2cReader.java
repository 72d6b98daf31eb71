package dev.reftserver.model.checkpoint;

import dev.reftserver.model.ModelConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads a llama2.c {@code .bin} checkpoint (Karpathy's run.c format): a header of seven int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab size means an unshared classifier
 * follows), then fp32 weights laid out per kind for all layers. Tensors are renamed to Hugging Face's Llama names,
 * and wq/wk rows are permuted from llama2.c's interleaved RoPE pairs to HF's rotate-half layout, as llama2.c's
 * export.py and HF's converter do, so one Llama implementation serves both formats.
 */
public final class Llama2cReader {

    private static final int HEADER_BYTES = 7 * 4;

    private Llama2cReader() {
    }

    public static Checkpoint read(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES) {
                throw new CheckpointException(path + ": too short for a llama2.c header (" + size + " bytes)");
            }
            ByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
            int dim = buf.getInt();
            int hidden = buf.getInt();
            int layers = buf.getInt();
            int heads = buf.getInt();
            int kvHeads = buf.getInt();
            int vocabRaw = buf.getInt();
            int seqLen = buf.getInt();
            boolean shared = vocabRaw > 0;
            int vocab = Math.abs(vocabRaw);
            if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab == 0 || seqLen <= 0
                    || dim % heads != 0 || heads % kvHeads != 0) {
                throw new CheckpointException(path + ": implausible llama2.c header (dim=" + dim + ", hidden="
                        + hidden + ", layers=" + layers + ", heads=" + heads + ", kv_heads=" + kvHeads
                        + ", vocab=" + vocabRaw + ", seq_len=" + seqLen + ")");
            }
            int headDim = dim / heads;
            int kvDim = kvHeads * headDim;
            long floats = (long) vocab * dim + (long) layers * (2L * dim + (long) dim * dim * 2 + 2L * dim * kvDim
                    + 3L * dim * hidden) + dim + (long) seqLen * headDim + (shared ? 0 : (long) vocab * dim);
            long expected = HEADER_BYTES + floats * 4;
            if (size < expected) {
                throw new CheckpointException(path + ": truncated llama2.c checkpoint: " + size + " bytes, the header"
                        + " implies " + expected);
            }
            FloatBuffer f = buf.position(HEADER_BYTES).slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            Map<String, TensorData> t = new LinkedHashMap<>();
            TensorData embed = take(f, "model.embed_tokens.weight", vocab, dim);
            t.put(embed.name(), embed);
            perLayer(f, t, layers, "input_layernorm.weight", dim);
            float[][] wq = perLayerRaw(f, layers, dim * dim);
            float[][] wk = perLayerRaw(f, layers, kvDim * dim);
            float[][] wv = perLayerRaw(f, layers, kvDim * dim);
            float[][] wo = perLayerRaw(f, layers, dim * dim);
            for (int l = 0; l < layers; l++) {
                put(t, l, "self_attn.q_proj.weight", permuteRope(wq[l], heads, headDim, dim), dim, dim);
                put(t, l, "self_attn.k_proj.weight", permuteRope(wk[l], kvHeads, headDim, dim), kvDim, dim);
                put(t, l, "self_attn.v_proj.weight", wv[l], kvDim, dim);
                put(t, l, "self_attn.o_proj.weight", wo[l], dim, dim);
            }
            perLayer(f, t, layers, "post_attention_layernorm.weight", dim);
            float[][] w1 = perLayerRaw(f, layers, hidden * dim);
            float[][] w2 = perLayerRaw(f, layers, dim * hidden);
            float[][] w3 = perLayerRaw(f, layers, hidden * dim);
            for (int l = 0; l < layers; l++) {
                put(t, l, "mlp.gate_proj.weight", w1[l], hidden, dim);
                put(t, l, "mlp.down_proj.weight", w2[l], dim, hidden);
                put(t, l, "mlp.up_proj.weight", w3[l], hidden, dim);
            }
            TensorData norm = take(f, "model.norm.weight", dim);
            t.put(norm.name(), norm);
            // freq_cis_real and freq_cis_imag: RoPE tables we recompute, skipped.
            f.position(f.position() + seqLen * headDim);
            if (!shared) {
                TensorData cls = take(f, "lm_head.weight", vocab, dim);
                t.put(cls.name(), cls);
            }
            ModelConfig config = new ModelConfig(ModelConfig.Architecture.LLAMA, vocab, dim, hidden, layers, heads,
                    kvHeads, headDim, seqLen, 10000.0, 1e-5, shared, false, 1, 2);
            return Checkpoint.inMemory(config, t, path.toString());
        } catch (IOException e) {
            throw CheckpointException.unreadable(path, e);
        }
    }

    /**
     * llama2.c stores each head's q/k rows as interleaved pairs (2i, 2i+1); HF's rotate-half RoPE expects
     * (i, i + headDim/2). Same permutation as HF's convert_llama_weights_to_hf {@code permute()}.
     */
    static float[] permuteRope(float[] w, int heads, int headDim, int cols) {
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int a = 0; a < 2; a++) {
                    int src = h * headDim + 2 * i + a;
                    int dst = h * headDim + a * half + i;
                    System.arraycopy(w, src * cols, out, dst * cols, cols);
                }
            }
        }
        return out;
    }

    private static TensorData take(FloatBuffer f, String name, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] data = new float[(int) n];
        f.get(data);
        return new TensorData(name, shape, data);
    }

    private static float[][] perLayerRaw(FloatBuffer f, int layers, int n) {
        float[][] out = new float[layers][n];
        for (float[] row : out) {
            f.get(row);
        }
        return out;
    }

    private static void perLayer(FloatBuffer f, Map<String, TensorData> t, int layers, String suffix, int dim) {
        float[][] raw = perLayerRaw(f, layers, dim);
        for (int l = 0; l < layers; l++) {
            put(t, l, suffix, raw[l], dim);
        }
    }

    private static void put(Map<String, TensorData> t, int layer, String suffix, float[] data, long... shape) {
        String name = "model.layers." + layer + "." + suffix;
        t.put(name, new TensorData(name, shape, data));
    }
}

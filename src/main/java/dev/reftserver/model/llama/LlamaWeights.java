package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.TensorData;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ops.Split;

/**
 * A Llama-family checkpoint's weights as the block computes with them: q, k and v fused into one matrix and gate
 * and up into another, stored input-major, with the RMSNorm weights (w, or Gemma's 1 + w) and the attention scale
 * folded in, and cut into the parts a {@link dev.reftserver.model.ops.CpuTeam} runs side by side (attention by
 * key/value heads, the MLP by channels, the output layer by vocabulary). Tensors are read from the checkpoint one
 * at a time.
 */
final class LlamaWeights {

    final boolean bfloat16Weights;
    final int attnParts;
    final int mlpParts;
    final int headParts;
    /** Boundaries of the MLP channels each part owns. */
    final int[] channels;
    final NDArray embed;
    /** [layer][part]: input-major, norm weights and the attention scale folded in. */
    final NDArray[][] wqkv;
    final NDArray[][] bqkv;
    final NDArray[][] wo;
    final NDArray[][] wGateUp;
    final NDArray[][] wDown;
    /** [part]: vocabulary slices of the output layer, the final norm folded in. */
    final NDArray[] lmHead;
    /** Qwen3's per-head query norm (times the attention scale) and key norm, [layer]; null elsewhere. */
    final NDArray[] qNorm;
    final NDArray[] kNorm;
    /** Gemma 2's norms of the attention and MLP outputs ((1 + w)), [layer]; null elsewhere. */
    final NDArray[] postAttnNorm;
    final NDArray[] postMlpNorm;
    /** cos/sin of every position [maxPos, head_dim], and rotate_half as a matrix. */
    final NDArray cosTable;
    final NDArray sinTable;
    final NDArray rotateHalf;
    private final BlockOptions block;
    private final NDManager manager;

    LlamaWeights(NDManager manager, Checkpoint ckpt, DataType dtype, int teamSize, boolean bfloat16Weights) {
        this.bfloat16Weights = bfloat16Weights;
        this.manager = manager;
        ModelConfig c = ckpt.config();
        this.block = c.block();
        boolean gemma = block.gemmaNorms();
        int d = c.hiddenSize();
        int hd = c.headDim();
        int q = c.numHeads() * hd;
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        int layers = c.numLayers();
        attnParts = Split.largestDivisorAtMost(c.numKvHeads(), teamSize);
        mlpParts = Math.min(teamSize, inter);
        headParts = Math.min(teamSize, c.vocabSize());
        int qPart = q / attnParts;
        int kvPart = kv / attnParts;
        channels = Split.ranges(inter, mlpParts);
        // The attention scale folds into q (RoPE is linear, so scaling before or after it is the same); with
        // Qwen3's q_norm it folds into that norm's weight instead, since the norm would undo it.
        float attnScale = (float) block.queryScale();
        float scale = block.qkNorm() ? 1f : attnScale;
        TensorData embedding = ckpt.require("model.embed_tokens.weight", c.vocabSize(), d);
        // Gemma 2 multiplies the embedding by sqrt(hidden_size) as a float32 scalar: the same products, folded.
        embed = loadWeight(gemma ? scaled(embedding.data(), (float) Math.sqrt(d)) : embedding.data(), dtype,
                c.vocabSize(), d);
        qNorm = block.qkNorm() ? new NDArray[layers] : null;
        kNorm = block.qkNorm() ? new NDArray[layers] : null;
        postAttnNorm = gemma ? new NDArray[layers] : null;
        postMlpNorm = gemma ? new NDArray[layers] : null;
        wqkv = new NDArray[layers][attnParts];
        bqkv = new NDArray[layers][attnParts];
        wo = new NDArray[layers][attnParts];
        wGateUp = new NDArray[layers][mlpParts];
        wDown = new NDArray[layers][mlpParts];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            float[] attnNorm = norm(ckpt, p + "input_layernorm.weight", d);
            if (block.qkNorm()) {
                qNorm[l] = load(scaled(norm(ckpt, p + "self_attn.q_norm.weight", hd), attnScale), dtype, hd);
                kNorm[l] = load(norm(ckpt, p + "self_attn.k_norm.weight", hd), dtype, hd);
            }
            if (gemma) {
                postAttnNorm[l] = load(norm(ckpt, p + "post_attention_layernorm.weight", d), dtype, d);
                postMlpNorm[l] = load(norm(ckpt, p + "post_feedforward_layernorm.weight", d), dtype, d);
            }
            float[] wq = scaled(ckpt.require(p + "self_attn.q_proj.weight", q, d).data(), scale);
            float[] wk = ckpt.require(p + "self_attn.k_proj.weight", kv, d).data();
            float[] wv = ckpt.require(p + "self_attn.v_proj.weight", kv, d).data();
            float[] woFull = ckpt.require(p + "self_attn.o_proj.weight", d, q).data();
            float[] bq = null;
            float[] bk = null;
            float[] bv = null;
            if (c.attentionBias()) {
                bq = scaled(ckpt.require(p + "self_attn.q_proj.bias", q).data(), scale);
                bk = ckpt.require(p + "self_attn.k_proj.bias", kv).data();
                bv = ckpt.require(p + "self_attn.v_proj.bias", kv).data();
            }
            for (int a = 0; a < attnParts; a++) {
                // Part a: kv heads [a*kvPart, (a+1)*kvPart) and the query heads that read them (repeat_kv).
                int q0 = a * qPart;
                int k0 = a * kvPart;
                float[] fused = concat(Split.rows(wq, d, q0, q0 + qPart), Split.rows(wk, d, k0, k0 + kvPart),
                        Split.rows(wv, d, k0, k0 + kvPart));
                // RMSNorm's weight folds into the columns of the projection that follows it.
                wqkv[l][a] = loadInputMajor(columnsTimes(fused, attnNorm), dtype, fused.length / d, d);
                if (bq != null) {
                    float[] b = concat(Split.range(bq, q0, q0 + qPart), Split.range(bk, k0, k0 + kvPart),
                            Split.range(bv, k0, k0 + kvPart));
                    bqkv[l][a] = load(b, dtype, b.length);
                }
                wo[l][a] = loadInputMajor(Split.columns(woFull, d, q, q0, q0 + qPart), dtype, d, qPart);
            }
            // Llama's norm before the MLP is post_attention_layernorm; Gemma 2 names it pre_feedforward_layernorm.
            float[] mlpNorm = norm(ckpt, p + (gemma ? "pre_feedforward_layernorm.weight"
                    : "post_attention_layernorm.weight"), d);
            float[] gate = ckpt.require(p + "mlp.gate_proj.weight", inter, d).data();
            float[] up = ckpt.require(p + "mlp.up_proj.weight", inter, d).data();
            float[] down = ckpt.require(p + "mlp.down_proj.weight", d, inter).data();
            for (int m = 0; m < mlpParts; m++) {
                int i0 = channels[m];
                int i1 = channels[m + 1];
                float[] gateUp = concat(Split.rows(gate, d, i0, i1), Split.rows(up, d, i0, i1));
                wGateUp[l][m] = loadInputMajor(columnsTimes(gateUp, mlpNorm), dtype, 2 * (i1 - i0), d);
                wDown[l][m] = loadInputMajor(Split.columns(down, d, inter, i0, i1), dtype, d, i1 - i0);
            }
        }
        float[] finalNorm = norm(ckpt, "model.norm.weight", d);
        float[] head = c.tiedEmbeddings()
                ? embedding.data() : ckpt.require("lm_head.weight", c.vocabSize(), d).data();
        int[] vocab = Split.ranges(c.vocabSize(), headParts);
        lmHead = new NDArray[headParts];
        for (int h = 0; h < headParts; h++) {
            float[] rows = Split.rows(head, d, vocab[h], vocab[h + 1]);
            lmHead[h] = loadInputMajor(columnsTimes(rows, finalNorm), dtype, vocab[h + 1] - vocab[h], d);
        }
        // RoPE tables (HF LlamaRotaryEmbedding) for every position. Dynamic scaling changes the frequencies only
        // for sequences past max_position_embeddings, a context this runtime never exceeds (newCache).
        int maxPos = c.maxPositions();
        float[] invFreq = c.rope().inverseFrequencies(hd, maxPos);
        cosTable = load(ropeRows(invFreq, 0, maxPos, true), dtype, maxPos, hd);
        sinTable = load(ropeRows(invFreq, 0, maxPos, false), dtype, maxPos, hd);
        int half = hd / 2;
        // rotate_half(y) = cat(-y2, y1) = y R, with R a signed permutation: one matmul instead of a flip of a view
        // and two reshapes (each product is one +-y times 1 plus zeros, so the result is exact).
        float[] r = new float[hd * hd];
        for (int j = 0; j < half; j++) {
            r[(j + half) * hd + j] = -1f;
            r[j * hd + j + half] = 1f;
        }
        rotateHalf = load(r, dtype, hd, hd);
    }

    /** emb = [freqs, freqs] (HF's rotate-half layout) of positions [from, to): cos or sin rows of head_dim. */
    private static float[] ropeRows(float[] invFreq, int from, int to, boolean cos) {
        int half = invFreq.length;
        int hd = 2 * half;
        float[] out = new float[(to - from) * hd];
        for (int pos = from; pos < to; pos++) {
            for (int i = 0; i < half; i++) {
                float angle = pos * invFreq[i];  // fp32 product, as HF computes freqs in float32
                float v = (float) (cos ? Math.cos(angle) : Math.sin(angle));
                out[(pos - from) * hd + i] = v;
                out[(pos - from) * hd + i + half] = v;
            }
        }
        return out;
    }

    /** The RMSNorm weight {@code name}: w, or Gemma's 1 + w (computed in float32, as HF does). */
    private float[] norm(Checkpoint ckpt, String name, int width) {
        float[] w = ckpt.require(name, width).data();
        if (!block.gemmaNorms()) {
            return w;
        }
        float[] out = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            out[i] = 1f + w[i];
        }
        return out;
    }

    /** W diag(g): column j of the row-major matrix w times g[j]. */
    static float[] columnsTimes(float[] w, float[] g) {
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
        int total = 0;
        for (float[] p : parts) {
            total += p.length;
        }
        float[] all = new float[total];
        int off = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, off, p.length);
            off += p.length;
        }
        return all;
    }

    /** A row-major [out, in] weight stored as [in, out] for {@link dev.reftserver.model.ops.Linear}. */
    private NDArray loadInputMajor(float[] w, DataType dtype, int out, int in) {
        return loadWeight(Split.transpose(w, out, in), dtype, in, out);
    }

    /** A projection or embedding weight: in {@code dtype}, or converted to bfloat16 on the native side. */
    private NDArray loadWeight(float[] data, DataType dtype, long... shape) {
        if (!bfloat16Weights) {
            return load(data, dtype, shape);
        }
        try (NDManager tmp = manager.newSubManager(); NativeOps op = new NativeOps()) {
            NDArray f = tmp.create(data, new Shape(shape));
            return op.keep(op.bfloat16(NativeOps.handle(f)), manager);
        }
    }

    private NDArray load(float[] data, DataType dtype, long... shape) {
        return manager.create(data, new Shape(shape)).toType(dtype, false);
    }

}

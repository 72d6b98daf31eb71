package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.AttentionContext;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.Projection;
import dev.reftserver.model.Views;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.TensorData;

/**
 * Llama, Mistral and Qwen2 (HF modeling_llama.py): pre-norm blocks with RMSNorm, rotate-half RoPE, grouped-query
 * attention (optionally with q/k/v bias, as Qwen2 has), and a SwiGLU MLP. At load time the projections are fused
 * (q, k and v in one matrix; gate and up in another) and stored input-major, and the RMSNorm weights and the
 * 1/sqrt(head_dim) attention scale are folded into them, so a decode step is a few dozen device ops per block.
 */
public final class LlamaArchitecture implements Architecture {

    private final ModelConfig c;
    private final NDManager manager;
    private final NDArray embed;
    private final NDArray[] wqkv;
    private final NDArray[] bqkv;
    private final NDArray[] wo;
    private final NDArray[] wGateUp;
    private final NDArray[] wDown;
    private final NDArray lmHead;
    private final NDArray cosTable;
    private final NDArray sinTable;
    private final float eps;

    public LlamaArchitecture(NDManager manager, Checkpoint ckpt, DataType dtype) {
        this.c = ckpt.config();
        this.manager = manager;
        this.eps = (float) c.normEps();
        int d = c.hiddenSize();
        int hd = c.headDim();
        int q = c.numHeads() * hd;
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        int layers = c.numLayers();
        // 1/sqrt(head_dim) folds into q (RoPE is linear, so scaling before or after it is the same).
        float scale = (float) (1.0 / Math.sqrt(hd));
        TensorData embedding = ckpt.require("model.embed_tokens.weight", c.vocabSize(), d);
        embed = load(embedding.data(), dtype, c.vocabSize(), d);
        wqkv = new NDArray[layers];
        bqkv = new NDArray[layers];
        wo = new NDArray[layers];
        wGateUp = new NDArray[layers];
        wDown = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            float[] attnNorm = ckpt.require(p + "input_layernorm.weight", d).data();
            float[] wq = scaled(ckpt.require(p + "self_attn.q_proj.weight", q, d).data(), scale);
            float[] wk = ckpt.require(p + "self_attn.k_proj.weight", kv, d).data();
            float[] wv = ckpt.require(p + "self_attn.v_proj.weight", kv, d).data();
            float[] fused = concat(wq, wk, wv);
            // RMSNorm's weight folds into the columns of the projection that follows it.
            wqkv[l] = loadInputMajor(columnsTimes(fused, attnNorm), dtype, fused.length / d, d);
            if (c.attentionBias()) {
                float[] bq = scaled(ckpt.require(p + "self_attn.q_proj.bias", q).data(), scale);
                float[] bk = ckpt.require(p + "self_attn.k_proj.bias", kv).data();
                float[] bv = ckpt.require(p + "self_attn.v_proj.bias", kv).data();
                float[] b = concat(bq, bk, bv);
                bqkv[l] = load(b, dtype, b.length);
            }
            wo[l] = loadInputMajor(ckpt.require(p + "self_attn.o_proj.weight", d, q).data(), dtype, d, q);
            float[] mlpNorm = ckpt.require(p + "post_attention_layernorm.weight", d).data();
            float[] gateUp = concat(ckpt.require(p + "mlp.gate_proj.weight", inter, d).data(),
                    ckpt.require(p + "mlp.up_proj.weight", inter, d).data());
            wGateUp[l] = loadInputMajor(columnsTimes(gateUp, mlpNorm), dtype, 2 * inter, d);
            wDown[l] = loadInputMajor(ckpt.require(p + "mlp.down_proj.weight", d, inter).data(), dtype, d, inter);
        }
        float[] finalNorm = ckpt.require("model.norm.weight", d).data();
        float[] head = c.tiedEmbeddings()
                ? embedding.data() : ckpt.require("lm_head.weight", c.vocabSize(), d).data();
        lmHead = loadInputMajor(columnsTimes(head, finalNorm), dtype, c.vocabSize(), d);
        // RoPE tables (HF LlamaRotaryEmbedding, default rope type): inv_freq_i = theta^(-2i/hd), emb = [f, f].
        int half = hd / 2;
        int maxPos = c.maxPositions();
        float[] cos = new float[maxPos * hd];
        float[] sin = new float[maxPos * hd];
        for (int i = 0; i < half; i++) {
            float invFreq = (float) (1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / hd));
            for (int pos = 0; pos < maxPos; pos++) {
                float angle = pos * invFreq;  // fp32 product, as HF computes freqs in float32
                cos[pos * hd + i] = (float) Math.cos(angle);
                cos[pos * hd + i + half] = (float) Math.cos(angle);
                // Signed for the swapped halves: rotate_half(y) * sin = swap(y) * [-sin, sin].
                sin[pos * hd + i] = -(float) Math.sin(angle);
                sin[pos * hd + i + half] = (float) Math.sin(angle);
            }
        }
        cosTable = load(cos, dtype, maxPos, hd);
        sinTable = load(sin, dtype, maxPos, hd);
    }

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public NDArray embed(NDArray ids, AttentionContext ctx) {
        Shape s = ids.getShape();
        return embed.get(ctx.step(), new NDIndex("{}", ids.reshape(-1))).reshape(s.get(0), s.get(1), c.hiddenSize());
    }

    @Override
    public NDArray block(int layer, NDArray x, AttentionContext ctx) {
        long n = x.getShape().get(0);
        long t = x.getShape().get(1);
        int hd = c.headDim();
        int qkHeads = c.numHeads() + c.numKvHeads();
        // Attention: x + o_proj(attn(rope(q), rope(k), v)) on the RMS-normalised input.
        NDArray qkv = Projection.apply(rms(x), wqkv[layer], bqkv[layer]);
        NDArray cos = ctx.memo("rope.cos", () -> ropeTable(cosTable, ctx));
        NDArray sin = ctx.memo("rope.sin", () -> ropeTable(sinTable, ctx));
        // rotate_half(y) = cat(-y2, y1): the halves swapped (a flip over an axis of two), then times [-sin, sin].
        int qkWidth = qkHeads * hd;
        NDArray qk = Views.slice(qkv, 2, 0, qkWidth).reshape(n, t, qkHeads, hd);
        NDArray swapped = qk.reshape(n, t, qkHeads, 2, hd / 2).flip(3).reshape(n, t, qkHeads, hd);
        qk = qk.mul(cos).add(swapped.mul(sin));
        NDArray v = Views.slice(qkv, 2, qkWidth, qkWidth + c.kvDim()).reshape(n, t, c.numKvHeads(), hd);
        NDArray attn = ctx.attend(layer, Views.slice(qk, 2, 0, c.numHeads()),
                Views.slice(qk, 2, c.numHeads(), qkHeads), v, 1.0);
        x = x.add(Projection.apply(attn, wo[layer], null));
        // MLP: x + down(silu(gate(h)) * up(h)).
        NDArray gateUp = Projection.apply(rms(x), wGateUp[layer], null);
        int inter = c.intermediateSize();
        NDArray gate = Views.slice(gateUp, 2, 0, inter);
        NDArray act = gate.mul(gate.getNDArrayInternal().sigmoid()).mul(Views.slice(gateUp, 2, inter, 2L * inter));
        return x.add(Projection.apply(act, wDown[layer], null));
    }

    @Override
    public NDArray head(NDArray x) {
        return Projection.apply(rms(x), lmHead, null);
    }

    /** cos/sin rows for this call's positions, shaped [n, T, 1, hd] to broadcast over heads. */
    private NDArray ropeTable(NDArray table, AttentionContext ctx) {
        NDArray pos = ctx.positions();
        Shape s = pos.getShape();
        return table.get(ctx.step(), new NDIndex("{}", pos.reshape(-1))).reshape(s.get(0), s.get(1), 1,
                c.headDim());
    }

    /** HF LlamaRMSNorm without its weight (folded into the next projection): x / sqrt(mean(x^2) + eps). */
    private NDArray rms(NDArray x) {
        return x.div(x.mul(x).mean(new int[] {-1}, true).add(eps).sqrt());
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

    /** A row-major [out, in] weight stored as [in, out] for {@link Projection}. */
    private NDArray loadInputMajor(float[] w, DataType dtype, int out, int in) {
        return load(Projection.transpose(w, out, in), dtype, in, out);
    }

    private NDArray load(float[] data, DataType dtype, long... shape) {
        return manager.create(data, new Shape(shape)).toType(dtype, false);
    }

    @Override
    public void close() {
        manager.close();
    }
}

package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.AttentionContext;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.TensorData;

/**
 * Llama, Mistral and Qwen2 (HF modeling_llama.py): pre-norm blocks with RMSNorm, rotate-half RoPE, grouped-query
 * attention (optionally with q/k/v bias, as Qwen2 has), and a SwiGLU MLP. q/k/v and gate/up are fused into one
 * matrix each at load time so a block is a handful of matmuls.
 */
public final class LlamaArchitecture implements Architecture {

    private final ModelConfig c;
    private final NDManager manager;
    private final NDArray embed;
    private final NDArray[] attnNorm;
    private final NDArray[] wqkv;
    private final NDArray[] bqkv;
    private final NDArray[] wo;
    private final NDArray[] mlpNorm;
    private final NDArray[] wGateUp;
    private final NDArray[] wDown;
    private final NDArray finalNorm;
    private final NDArray lmHead;
    private final NDArray cosTable;
    private final NDArray sinTable;
    private final NDArray rotateHalf;

    public LlamaArchitecture(NDManager manager, Checkpoint ckpt, DataType dtype) {
        this.c = ckpt.config();
        this.manager = manager;
        int d = c.hiddenSize();
        int q = c.numHeads() * c.headDim();
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        int layers = c.numLayers();
        embed = load(ckpt.require("model.embed_tokens.weight", c.vocabSize(), d), dtype);
        attnNorm = new NDArray[layers];
        wqkv = new NDArray[layers];
        bqkv = new NDArray[layers];
        wo = new NDArray[layers];
        mlpNorm = new NDArray[layers];
        wGateUp = new NDArray[layers];
        wDown = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            attnNorm[l] = load(ckpt.require(p + "input_layernorm.weight", d), dtype);
            wqkv[l] = concat(dtype, ckpt.require(p + "self_attn.q_proj.weight", q, d),
                    ckpt.require(p + "self_attn.k_proj.weight", kv, d),
                    ckpt.require(p + "self_attn.v_proj.weight", kv, d));
            if (c.attentionBias()) {
                bqkv[l] = concat(dtype, ckpt.require(p + "self_attn.q_proj.bias", q),
                        ckpt.require(p + "self_attn.k_proj.bias", kv),
                        ckpt.require(p + "self_attn.v_proj.bias", kv));
            }
            wo[l] = load(ckpt.require(p + "self_attn.o_proj.weight", d, q), dtype);
            mlpNorm[l] = load(ckpt.require(p + "post_attention_layernorm.weight", d), dtype);
            wGateUp[l] = concat(dtype, ckpt.require(p + "mlp.gate_proj.weight", inter, d),
                    ckpt.require(p + "mlp.up_proj.weight", inter, d));
            wDown[l] = load(ckpt.require(p + "mlp.down_proj.weight", d, inter), dtype);
        }
        finalNorm = load(ckpt.require("model.norm.weight", d), dtype);
        if (ckpt.has("lm_head.weight") && !c.tiedEmbeddings()) {
            lmHead = load(ckpt.require("lm_head.weight", c.vocabSize(), d), dtype);
        } else if (c.tiedEmbeddings()) {
            lmHead = embed;
        } else {
            lmHead = load(ckpt.require("lm_head.weight", c.vocabSize(), d), dtype);
        }
        // RoPE tables (HF LlamaRotaryEmbedding, default rope type): inv_freq_i = theta^(-2i/hd), emb = [f, f].
        int hd = c.headDim();
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
                sin[pos * hd + i] = (float) Math.sin(angle);
                sin[pos * hd + i + half] = (float) Math.sin(angle);
            }
        }
        cosTable = manager.create(cos, new Shape(maxPos, hd)).toType(dtype, false);
        sinTable = manager.create(sin, new Shape(maxPos, hd)).toType(dtype, false);
        // rotate_half(x) = cat(-x2, x1) = x @ R with R[i + half, i] = -1 and R[i, i + half] = 1.
        float[] r = new float[hd * hd];
        for (int i = 0; i < half; i++) {
            r[(i + half) * hd + i] = -1f;
            r[i * hd + i + half] = 1f;
        }
        rotateHalf = manager.create(r, new Shape(hd, hd)).toType(dtype, false);
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
        int q = c.numHeads() * hd;
        int kv = c.kvDim();
        // Attention: x + o_proj(attn(rope(q), rope(k), v)) on the normed input.
        NDArray h = rmsNorm(x, attnNorm[layer]);
        NDArray qkv = Linear.linear(h, wqkv[layer], bqkv[layer]).singletonOrThrow();
        NDArray qs = qkv.get("..., :{}", q).reshape(n, t, c.numHeads(), hd);
        NDArray ks = qkv.get("..., {}:{}", q, q + kv).reshape(n, t, c.numKvHeads(), hd);
        NDArray vs = qkv.get("..., {}:", q + kv).reshape(n, t, c.numKvHeads(), hd);
        NDArray cos = ctx.memo("rope.cos", () -> ropeTable(cosTable, ctx));
        NDArray sin = ctx.memo("rope.sin", () -> ropeTable(sinTable, ctx));
        qs = qs.mul(cos).add(qs.matMul(rotateHalf).mul(sin));
        ks = ks.mul(cos).add(ks.matMul(rotateHalf).mul(sin));
        NDArray attn = ctx.attend(layer, qs, ks, vs);
        x = x.add(Linear.linear(attn, wo[layer]).singletonOrThrow());
        // MLP: x + down(silu(gate(h)) * up(h)).
        h = rmsNorm(x, mlpNorm[layer]);
        NDArray gateUp = Linear.linear(h, wGateUp[layer]).singletonOrThrow();
        int inter = c.intermediateSize();
        NDArray gate = gateUp.get("..., :{}", inter);
        NDArray up = gateUp.get("..., {}:", inter);
        NDArray act = gate.mul(gate.getNDArrayInternal().sigmoid()).mul(up);
        return x.add(Linear.linear(act, wDown[layer]).singletonOrThrow());
    }

    @Override
    public NDArray head(NDArray x) {
        return Linear.linear(rmsNorm(x, finalNorm), lmHead).singletonOrThrow();
    }

    /** cos/sin rows for this call's positions, shaped [n, T, 1, hd] to broadcast over heads. */
    private NDArray ropeTable(NDArray table, AttentionContext ctx) {
        NDArray pos = ctx.positions();
        Shape s = pos.getShape();
        return table.get(ctx.step(), new NDIndex("{}", pos.reshape(-1))).reshape(s.get(0), s.get(1), 1,
                c.headDim());
    }

    /** HF LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * w. */
    private NDArray rmsNorm(NDArray x, NDArray w) {
        NDArray ms = x.mul(x).mean(new int[] {-1}, true);
        return x.div(ms.add(c.normEps()).sqrt()).mul(w);
    }

    private NDArray load(TensorData t, DataType dtype) {
        return manager.create(t.data(), new Shape(t.shape())).toType(dtype, false);
    }

    private NDArray concat(DataType dtype, TensorData... parts) {
        int total = 0;
        long rows = 0;
        for (TensorData p : parts) {
            total += p.data().length;
            rows += p.shape()[0];
        }
        float[] all = new float[total];
        int off = 0;
        for (TensorData p : parts) {
            System.arraycopy(p.data(), 0, all, off, p.data().length);
            off += p.data().length;
        }
        Shape shape = parts[0].shape().length == 1 ? new Shape(rows) : new Shape(rows, parts[0].shape()[1]);
        return manager.create(all, shape).toType(dtype, false);
    }

    @Override
    public void close() {
        manager.close();
    }
}

package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.AttentionContext;
import dev.reftserver.model.CpuTeam;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.NativeOps;
import dev.reftserver.model.Projection;
import dev.reftserver.model.Split;
import dev.reftserver.model.Views;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.TensorData;

/**
 * Llama, Mistral and Qwen2 (HF modeling_llama.py): pre-norm blocks with RMSNorm, rotate-half RoPE, grouped-query
 * attention (optionally with q/k/v bias, as Qwen2 has), and a SwiGLU MLP. At load time the projections are fused
 * (q, k and v in one matrix; gate and up in another) and stored input-major, and the RMSNorm weights and the
 * 1/sqrt(head_dim) attention scale are folded into them, so a decode step is a few dozen device ops per block.
 *
 * <p>On a {@link CpuTeam} of several threads each block runs as parts side by side: attention split by key/value
 * heads (each part projects, rotates, caches and attends over its own heads, then multiplies by its rows of
 * o_proj), the MLP split by channels (its columns of gate and up, its rows of down), and the output layer by
 * vocabulary. The parts' partial sums are added to the residual stream in part order.
 */
public final class LlamaArchitecture implements Architecture {

    private final ModelConfig c;
    private final NDManager manager;
    private final CpuTeam team;
    private final int attnParts;
    private final int mlpParts;
    private final int headParts;
    private final NDArray embed;
    /** [layer][part] */
    private final NDArray[][] wqkv;
    private final NDArray[][] bqkv;
    private final NDArray[][] wo;
    private final NDArray[][] wGateUp;
    private final NDArray[][] wDown;
    private final int[] channels;
    private final NDArray[] lmHead;
    private final NDArray cosTable;
    private final NDArray sinTable;
    private final NDArray rotateHalf;
    private final NDArray epsScalar;
    private final NDArray minusHalf;
    private final float eps;

    public LlamaArchitecture(NDManager manager, Checkpoint ckpt, DataType dtype, CpuTeam team) {
        this.c = ckpt.config();
        this.manager = manager;
        this.team = team;
        this.eps = (float) c.normEps();
        int d = c.hiddenSize();
        int hd = c.headDim();
        int q = c.numHeads() * hd;
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        int layers = c.numLayers();
        attnParts = Split.largestDivisorAtMost(c.numKvHeads(), team.size());
        mlpParts = Math.min(team.size(), inter);
        headParts = Math.min(team.size(), c.vocabSize());
        int qPart = q / attnParts;
        int kvPart = kv / attnParts;
        channels = Split.ranges(inter, mlpParts);
        // 1/sqrt(head_dim) folds into q (RoPE is linear, so scaling before or after it is the same).
        float scale = (float) (1.0 / Math.sqrt(hd));
        TensorData embedding = ckpt.require("model.embed_tokens.weight", c.vocabSize(), d);
        embed = load(embedding.data(), dtype, c.vocabSize(), d);
        wqkv = new NDArray[layers][attnParts];
        bqkv = new NDArray[layers][attnParts];
        wo = new NDArray[layers][attnParts];
        wGateUp = new NDArray[layers][mlpParts];
        wDown = new NDArray[layers][mlpParts];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            float[] attnNorm = ckpt.require(p + "input_layernorm.weight", d).data();
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
            float[] mlpNorm = ckpt.require(p + "post_attention_layernorm.weight", d).data();
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
        float[] finalNorm = ckpt.require("model.norm.weight", d).data();
        float[] head = c.tiedEmbeddings()
                ? embedding.data() : ckpt.require("lm_head.weight", c.vocabSize(), d).data();
        int[] vocab = Split.ranges(c.vocabSize(), headParts);
        lmHead = new NDArray[headParts];
        for (int h = 0; h < headParts; h++) {
            float[] rows = Split.rows(head, d, vocab[h], vocab[h + 1]);
            lmHead[h] = loadInputMajor(columnsTimes(rows, finalNorm), dtype, vocab[h + 1] - vocab[h], d);
        }
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
                sin[pos * hd + i] = (float) Math.sin(angle);
                sin[pos * hd + i + half] = (float) Math.sin(angle);
            }
        }
        cosTable = load(cos, dtype, maxPos, hd);
        sinTable = load(sin, dtype, maxPos, hd);
        // rotate_half(y) = cat(-y2, y1) = y R, with R a signed permutation: one matmul instead of a flip of a view
        // and two reshapes (each product is one +-y times 1 plus zeros, so the result is exact).
        float[] r = new float[hd * hd];
        for (int j = 0; j < half; j++) {
            r[(j + half) * hd + j] = -1f;
            r[j * hd + j + half] = 1f;
        }
        rotateHalf = load(r, dtype, hd, hd);
        // 0-dim float32 scalars: in-place ops keep the dtype of the array they update.
        epsScalar = manager.create(eps);
        minusHalf = manager.create(-0.5f);
    }

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public NDArray embed(long[] ids, AttentionContext ctx) {
        if (ids.length == 1) {
            // One token (a batch-1 decode step): its row of the table as a view.
            return Views.slice(ctx.step(), embed, 0, ids[0], ids[0] + 1).reshape(1, 1, c.hiddenSize());
        }
        return embed.get(ctx.step(), new NDIndex("{}", ctx.step().create(ids)))
                .reshape(ctx.rows(), ctx.tokens(), c.hiddenSize());
    }

    @Override
    public int attentionParts() {
        return attnParts;
    }

    @Override
    public NDArray block(int layer, NDArray x, AttentionContext ctx) {
        long cos = NativeOps.handle(ctx.memo("rope.cos", () -> ropeTable(cosTable, ctx)));
        long sin = NativeOps.handle(ctx.memo("rope.sin", () -> ropeTable(sinTable, ctx)));
        ctx.preparePartManagers(Math.max(attnParts, mlpParts));
        try (NativeOps op = new NativeOps()) {
            // Attention: x + o_proj(attn(rope(q), rope(k), v)) on the RMS-normalised input.
            long h = rms(op, NativeOps.handle(x));
            long[] attn = new long[attnParts];
            try {
                team.run(attnParts, a -> attn[a] = attention(layer, a, h, cos, sin, ctx));
            } finally {
                adoptAll(op, attn);
            }
            long mid = sum(op, NativeOps.handle(x), attn);
            // MLP: x + down(silu(gate(h)) * up(h)).
            long h2 = rms(op, mid);
            long[] mlp = new long[mlpParts];
            try {
                team.run(mlpParts, m -> mlp[m] = mlp(layer, m, h2));
            } finally {
                adoptAll(op, mlp);
            }
            return op.keep(sum(op, mid, mlp), ctx.step());
        }
    }

    /** One part's share of o_proj(attention) over its heads: [n, T, d], released for the caller to adopt. */
    private long attention(int layer, int part, long h, long cos, long sin, AttentionContext ctx) {
        long n = ctx.rows();
        long t = ctx.tokens();
        int hd = c.headDim();
        int heads = c.numHeads() / attnParts;
        int kvHeads = c.numKvHeads() / attnParts;
        int qkHeads = heads + kvHeads;
        try (NativeOps op = new NativeOps()) {
            long qkv = op.matmul(h, NativeOps.handle(wqkv[layer][part]));
            if (bqkv[layer][part] != null) {
                op.addi(qkv, NativeOps.handle(bqkv[layer][part]));
            }
            qkv = op.reshape(qkv, n, t, qkHeads + kvHeads, hd);
            long qk = op.slice(qkv, 2, 0, qkHeads);
            // HF apply_rotary_pos_emb: y * cos + rotate_half(y) * sin.
            long rotated = op.matmul(qk, NativeOps.handle(rotateHalf));
            op.muli(rotated, sin);
            long roped = op.mul(qk, cos);
            op.addi(roped, rotated);
            long v = op.slice(qkv, 2, qkHeads, qkHeads + kvHeads);
            long attn = ctx.attend(op, layer, part, op.slice(roped, 2, 0, heads),
                    op.slice(roped, 2, heads, qkHeads), v);
            return op.release(op.matmul(attn, NativeOps.handle(wo[layer][part])));
        }
    }

    /** One part's share of down(silu(gate(h)) * up(h)) over its channels: [n, T, d], released for the caller. */
    private long mlp(int layer, int part, long h) {
        int width = channels[part + 1] - channels[part];
        try (NativeOps op = new NativeOps()) {
            long gateUp = op.matmul(h, NativeOps.handle(wGateUp[layer][part]));
            long gate = op.slice(gateUp, 2, 0, width);
            // silu(g) * u = sigmoid(g) * g * u, in place on the one new array.
            long act = op.sigmoid(gate);
            op.muli(act, gate);
            op.muli(act, op.slice(gateUp, 2, width, 2L * width));
            return op.release(op.matmul(act, NativeOps.handle(wDown[layer][part])));
        }
    }

    private static void adoptAll(NativeOps op, long[] handles) {
        for (long h : handles) {
            op.adopt(h);
        }
    }

    /** x plus the parts' partial sums, in part order. */
    private static long sum(NativeOps op, long x, long[] parts) {
        long out = op.add(x, parts[0]);
        for (int i = 1; i < parts.length; i++) {
            op.addi(out, parts[i]);
        }
        return out;
    }

    @Override
    public NDArray head(NDArray x, AttentionContext ctx) {
        try (NativeOps op = new NativeOps()) {
            long h = rms(op, NativeOps.handle(x));
            long[] logits = new long[headParts];
            try {
                team.run(headParts, p -> {
                    try (NativeOps part = new NativeOps()) {
                        logits[p] = part.release(part.matmul(h, NativeOps.handle(lmHead[p])));
                    }
                });
            } finally {
                adoptAll(op, logits);
            }
            return op.keep(headParts == 1 ? logits[0] : op.cat(logits, -1), x.getManager());
        }
    }

    /** cos/sin rows for this call's positions, shaped [n, T, 1, hd] (or [1, hd]) to broadcast over heads. */
    private NDArray ropeTable(NDArray table, AttentionContext ctx) {
        int pos0 = ctx.samePosition();
        if (pos0 >= 0) {
            return Views.slice(ctx.step(), table, 0, pos0, pos0 + 1L);
        }
        NDArray pos = ctx.positions();
        Shape s = pos.getShape();
        return table.get(ctx.step(), new NDIndex("{}", pos.reshape(-1))).reshape(s.get(0), s.get(1), 1,
                c.headDim());
    }

    /** HF LlamaRMSNorm without its weight (folded into the next projection): x * rsqrt(mean(x^2) + eps). */
    private long rms(NativeOps op, long x) {
        long meanSquare = op.mean(op.mul(x, x), -1, true);
        op.addi(meanSquare, NativeOps.handle(epsScalar));
        // pow(-0.5) is libtorch's rsqrt kernel.
        op.powi(meanSquare, NativeOps.handle(minusHalf));
        return op.mul(x, meanSquare);
    }

    // The differentiable forward for training: block(), attention(), mlp() and head() above in plain NDArray ops,
    // on the same weights, in the same order of operations (parts summed in part order), with no in-place edits
    // and no cache, all on the calling thread.

    @Override
    public NDArray trainingEmbed(NDManager step, long[] ids, int rows, int tokens) {
        return embed.get(step, new NDIndex("{}", step.create(ids))).reshape(rows, tokens, c.hiddenSize());
    }

    @Override
    public NDArray trainingBlock(int layer, NDArray x) {
        NDManager step = x.getManager();
        int t = (int) x.getShape().get(1);
        int hd = c.headDim();
        NDArray cos = cosTable.get(step, new NDIndex("0:" + t)).reshape(1, t, 1, hd);
        NDArray sin = sinTable.get(step, new NDIndex("0:" + t)).reshape(1, t, 1, hd);
        float[] causal = new float[t * t];
        for (int q = 0; q < t; q++) {
            for (int k = q + 1; k < t; k++) {
                causal[q * t + k] = Float.NEGATIVE_INFINITY;
            }
        }
        NDArray mask = step.create(causal, new Shape(1, 1, 1, t, t)).toType(x.getDataType(), false);
        NDArray h = trainingRms(x);
        NDArray mid = x;
        for (int a = 0; a < attnParts; a++) {
            mid = mid.add(trainingAttention(layer, a, h, cos, sin, mask));
        }
        NDArray h2 = trainingRms(mid);
        NDArray out = mid;
        for (int m = 0; m < mlpParts; m++) {
            int width = channels[m + 1] - channels[m];
            NDArray gateUp = h2.matMul(wGateUp[layer][m]);
            NDArray gate = gateUp.get(":, :, 0:" + width);
            NDArray act = ai.djl.nn.Activation.sigmoid(gate).mul(gate).mul(gateUp.get(":, :, " + width + ":"));
            out = out.add(act.matMul(wDown[layer][m]));
        }
        return out;
    }

    private NDArray trainingAttention(int layer, int part, NDArray h, NDArray cos, NDArray sin, NDArray mask) {
        long n = h.getShape().get(0);
        long t = h.getShape().get(1);
        int hd = c.headDim();
        int heads = c.numHeads() / attnParts;
        int kvHeads = c.numKvHeads() / attnParts;
        int qkHeads = heads + kvHeads;
        int group = heads / kvHeads;
        NDArray qkv = h.matMul(wqkv[layer][part]);
        if (bqkv[layer][part] != null) {
            qkv = qkv.add(bqkv[layer][part]);
        }
        qkv = qkv.reshape(n, t, qkHeads + kvHeads, hd);
        NDArray qk = qkv.get(":, :, 0:" + qkHeads);
        NDArray roped = qk.mul(cos).add(qk.matMul(rotateHalf).mul(sin));
        NDArray q = roped.get(":, :, 0:" + heads);
        NDArray kt = roped.get(":, :, " + heads + ":").transpose(0, 2, 3, 1);      // [n, kv_heads, hd, T]
        NDArray vt = qkv.get(":, :, " + qkHeads + ":").transpose(0, 2, 1, 3);      // [n, kv_heads, T, hd]
        // [n, heads, T, hd] grouped as [n, kv_heads, group*T, hd]: head h reads kv head h / group (repeat_kv).
        NDArray qg = q.transpose(0, 2, 1, 3).reshape(n, kvHeads, group * t, hd);
        NDArray scores = qg.matMul(kt).reshape(n, kvHeads, group, t, t).add(mask).softmax(-1)
                .reshape(n, kvHeads, group * t, t);
        NDArray attn = scores.matMul(vt).reshape(n, heads, t, hd).transpose(0, 2, 1, 3)
                .reshape(n, t, (long) heads * hd);
        return attn.matMul(wo[layer][part]);
    }

    @Override
    public NDArray trainingHead(NDArray x) {
        NDArray h = trainingRms(x);
        NDList parts = new NDList(headParts);
        for (int p = 0; p < headParts; p++) {
            parts.add(h.matMul(lmHead[p]));
        }
        return headParts == 1 ? parts.get(0) : NDArrays.concat(parts, -1);
    }

    /** {@link #rms} without in-place ops. */
    private NDArray trainingRms(NDArray x) {
        return x.mul(x.mul(x).mean(new int[] {-1}, true).add(eps).pow(-0.5f));
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

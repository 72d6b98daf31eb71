package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.AttentionContext;
import dev.reftserver.model.BlockOptions;
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
    /** Qwen3's per-head query norm (times the attention scale) and key norm, [layer]; null elsewhere. */
    private final NDArray[] qNorm;
    private final NDArray[] kNorm;
    /** Gemma 2's norms of the attention and MLP outputs ((1 + w)), [layer]; null elsewhere. */
    private final NDArray[] postAttnNorm;
    private final NDArray[] postMlpNorm;
    private final BlockOptions block;
    /** 0-dim float32 constants of gelu_tanh and the final soft-cap. */
    private final NDArray one;
    private final NDArray half;
    private final NDArray geluCubic;
    private final NDArray geluScale;
    private final NDArray finalCapInverse;
    private final NDArray finalCap;
    private final NDArray cosTable;
    private final NDArray sinTable;
    private final NDArray rotateHalf;
    private final NDArray epsScalar;
    private final NDArray minusHalf;
    private final float eps;
    /** Whether the embedding and projection weights are bfloat16 (raw native arrays, see Bfloat16Cast). */
    private final boolean bfloat16Weights;

    public LlamaArchitecture(NDManager manager, Checkpoint ckpt, DataType dtype, CpuTeam team) {
        this(manager, ckpt, dtype, team, false);
    }

    /**
     * @param bfloat16Weights keep the embedding and every projection in bfloat16 (2 bytes a weight) while the
     *                        residual stream, norms, attention and cache stay in {@code dtype}: each projection
     *                        rounds its input to bfloat16, multiplies in bfloat16 and returns {@code dtype}
     */
    public LlamaArchitecture(NDManager manager, Checkpoint ckpt, DataType dtype, CpuTeam team,
            boolean bfloat16Weights) {
        this.bfloat16Weights = bfloat16Weights;
        this.c = ckpt.config();
        this.manager = manager;
        this.team = team;
        this.eps = (float) c.normEps();
        this.block = c.block();
        boolean gemma = block.gemmaNorms();
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
        // 0-dim float32 scalars: in-place ops keep the dtype of the array they update.
        epsScalar = manager.create(eps);
        minusHalf = manager.create(-0.5f);
        one = manager.create(1f);
        this.half = manager.create(0.5f);
        geluCubic = manager.create(0.044715f);
        geluScale = manager.create((float) Math.sqrt(2 / Math.PI));
        finalCapInverse = manager.create((float) (block.finalSoftcap() > 0 ? 1 / block.finalSoftcap() : 1));
        finalCap = manager.create((float) block.finalSoftcap());
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

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public NDArray embed(long[] ids, AttentionContext ctx) {
        if (bfloat16Weights) {
            try (NativeOps op = new NativeOps()) {
                long rows = op.rowsBfloat16(NativeOps.handle(embed), NativeOps.handle(ctx.step().create(ids)));
                return op.keep(op.reshape(rows, ctx.rows(), ctx.tokens(), c.hiddenSize()), ctx.step());
            }
        }
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
            long mid = residual(op, NativeOps.handle(x), attn, postAttnNorm, layer);
            // MLP: x + down(silu(gate(h)) * up(h)).
            long h2 = rms(op, mid);
            long[] mlp = new long[mlpParts];
            try {
                team.run(mlpParts, m -> mlp[m] = mlp(layer, m, h2));
            } finally {
                adoptAll(op, mlp);
            }
            return op.keep(residual(op, mid, mlp, postMlpNorm, layer), ctx.step());
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
            long qkv = project(op, h, wqkv[layer][part]);
            if (bqkv[layer][part] != null) {
                op.addi(qkv, NativeOps.handle(bqkv[layer][part]));
            }
            qkv = op.reshape(qkv, n, t, qkHeads + kvHeads, hd);
            long qk = op.slice(qkv, 2, 0, qkHeads);
            if (qNorm != null) {
                // Qwen3: each head's query and key through its own RMSNorm, before RoPE.
                long qn = rms(op, op.slice(qkv, 2, 0, heads));
                op.muli(qn, NativeOps.handle(qNorm[layer]));
                long kn = rms(op, op.slice(qkv, 2, heads, qkHeads));
                op.muli(kn, NativeOps.handle(kNorm[layer]));
                qk = op.cat(new long[] {qn, kn}, 2);
            }
            // HF apply_rotary_pos_emb: y * cos + rotate_half(y) * sin.
            long rotated = op.matmul(qk, NativeOps.handle(rotateHalf));
            op.muli(rotated, sin);
            long roped = op.mul(qk, cos);
            op.addi(roped, rotated);
            long v = op.slice(qkv, 2, qkHeads, qkHeads + kvHeads);
            long attn = ctx.attend(op, layer, part, op.slice(roped, 2, 0, heads),
                    op.slice(roped, 2, heads, qkHeads), v);
            return op.release(project(op, attn, wo[layer][part]));
        }
    }

    /** One part's share of down(silu(gate(h)) * up(h)) over its channels: [n, T, d], released for the caller. */
    private long mlp(int layer, int part, long h) {
        int width = channels[part + 1] - channels[part];
        try (NativeOps op = new NativeOps()) {
            long gateUp = project(op, h, wGateUp[layer][part]);
            long gate = op.slice(gateUp, 2, 0, width);
            long act = activation(op, gate);
            op.muli(act, op.slice(gateUp, 2, width, 2L * width));
            return op.release(project(op, act, wDown[layer][part]));
        }
    }

    /** act(g) as a new array: silu, or gelu with the tanh approximation (torch's gelu(approximate="tanh")). */
    private long activation(NativeOps op, long g) {
        if (block.activation() == BlockOptions.Activation.SILU) {
            // silu(g) = sigmoid(g) * g, in place on the one new array.
            long act = op.sigmoid(g);
            op.muli(act, g);
            return act;
        }
        // 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
        long inner = op.mul(g, g);
        op.muli(inner, NativeOps.handle(geluCubic));
        op.addi(inner, NativeOps.handle(one));
        op.muli(inner, g);
        op.muli(inner, NativeOps.handle(geluScale));
        long act = op.tanh(inner);
        op.addi(act, NativeOps.handle(one));
        op.muli(act, NativeOps.handle(half));
        op.muli(act, g);
        return act;
    }

    /** x W for an input-major weight, in bfloat16 where the weights are. */
    private long project(NativeOps op, long x, NDArray w) {
        return bfloat16Weights ? op.linearBfloat16(x, NativeOps.handle(w)) : op.matmul(x, NativeOps.handle(w));
    }

    private static void adoptAll(NativeOps op, long[] handles) {
        for (long h : handles) {
            op.adopt(h);
        }
    }

    /** x plus the parts' partial sums, normed first where the block has a post norm (Gemma 2). */
    private long residual(NativeOps op, long x, long[] parts, NDArray[] postNorm, int layer) {
        if (postNorm == null) {
            return sum(op, x, parts);
        }
        long y = parts[0];
        if (parts.length > 1) {
            y = op.add(parts[0], parts[1]);
            for (int i = 2; i < parts.length; i++) {
                op.addi(y, parts[i]);
            }
        }
        long normed = rms(op, y);
        op.muli(normed, NativeOps.handle(postNorm[layer]));
        return op.add(x, normed);
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
                        logits[p] = part.release(project(part, h, lmHead[p]));
                    }
                });
            } finally {
                adoptAll(op, logits);
            }
            long out = headParts == 1 ? logits[0] : op.cat(logits, -1);
            if (block.finalSoftcap() > 0) {
                // Gemma 2: cap * tanh(logits / cap).
                op.muli(out, NativeOps.handle(finalCapInverse));
                out = op.tanh(out);
                op.muli(out, NativeOps.handle(finalCap));
            }
            return op.keep(out, x.getManager());
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
        return loadWeight(Projection.transpose(w, out, in), dtype, in, out);
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

    @Override
    public void close() {
        manager.close();
    }
}

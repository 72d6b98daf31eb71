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
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.ops.CpuTeam;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ops.Views;

/**
 * The Llama family (HF modeling_llama.py and its relatives): pre-norm blocks with RMSNorm, rotate-half RoPE,
 * grouped-query attention (optionally with q/k/v bias, as Qwen2 has), and a gated MLP; what each family adds
 * (Qwen3's q/k norms, Gemma 2's norms and soft-caps, sliding windows) comes from {@link BlockOptions}. At load
 * time the projections are fused (q, k and v in one matrix; gate and up in another) and stored input-major, and the
 * RMSNorm weights and the attention scale are folded into them ({@link LlamaWeights}), so a decode step is a few
 * dozen device ops per block.
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
    private final LlamaWeights w;
    private final BlockOptions block;
    /** 0-dim float32 constants of gelu_tanh and the final soft-cap. */
    private final NDArray one;
    private final NDArray half;
    private final NDArray geluCubic;
    private final NDArray geluScale;
    private final NDArray finalCapInverse;
    private final NDArray finalCap;
    private final NDArray epsScalar;
    private final NDArray minusHalf;
    private final float eps;

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
        this.c = ckpt.config();
        this.manager = manager;
        this.team = team;
        this.eps = (float) c.normEps();
        this.block = c.block();
        this.w = new LlamaWeights(manager, ckpt, dtype, team.size(), bfloat16Weights);
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

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public NDArray embed(long[] ids, AttentionContext ctx) {
        if (w.bfloat16Weights) {
            try (NativeOps op = new NativeOps()) {
                long rows = op.rowsBfloat16(NativeOps.handle(w.embed), NativeOps.handle(ctx.step().create(ids)));
                return op.keep(op.reshape(rows, ctx.rows(), ctx.tokens(), c.hiddenSize()), ctx.step());
            }
        }
        if (ids.length == 1) {
            // One token (a batch-1 decode step): its row of the table as a view.
            return Views.slice(ctx.step(), w.embed, 0, ids[0], ids[0] + 1).reshape(1, 1, c.hiddenSize());
        }
        return w.embed.get(ctx.step(), new NDIndex("{}", ctx.step().create(ids)))
                .reshape(ctx.rows(), ctx.tokens(), c.hiddenSize());
    }

    @Override
    public int attentionParts() {
        return w.attnParts;
    }

    @Override
    public NDArray block(int layer, NDArray x, AttentionContext ctx) {
        long cos = NativeOps.handle(ctx.memo("rope.cos", () -> ropeTable(w.cosTable, ctx)));
        long sin = NativeOps.handle(ctx.memo("rope.sin", () -> ropeTable(w.sinTable, ctx)));
        ctx.preparePartManagers(Math.max(w.attnParts, w.mlpParts));
        try (NativeOps op = new NativeOps()) {
            // Attention: x + o_proj(attn(rope(q), rope(k), v)) on the RMS-normalised input.
            long h = rms(op, NativeOps.handle(x));
            long[] attn = new long[w.attnParts];
            try {
                team.run(w.attnParts, a -> attn[a] = attention(layer, a, h, cos, sin, ctx));
            } finally {
                adoptAll(op, attn);
            }
            long mid = residual(op, NativeOps.handle(x), attn, w.postAttnNorm, layer);
            // MLP: x + down(silu(gate(h)) * up(h)).
            long h2 = rms(op, mid);
            long[] mlp = new long[w.mlpParts];
            try {
                team.run(w.mlpParts, m -> mlp[m] = mlp(layer, m, h2));
            } finally {
                adoptAll(op, mlp);
            }
            return op.keep(residual(op, mid, mlp, w.postMlpNorm, layer), ctx.step());
        }
    }

    /** One part's share of o_proj(attention) over its heads: [n, T, d], released for the caller to adopt. */
    private long attention(int layer, int part, long h, long cos, long sin, AttentionContext ctx) {
        long n = ctx.rows();
        long t = ctx.tokens();
        int hd = c.headDim();
        int heads = c.numHeads() / w.attnParts;
        int kvHeads = c.numKvHeads() / w.attnParts;
        int qkHeads = heads + kvHeads;
        try (NativeOps op = new NativeOps()) {
            long qkv = project(op, h, w.wqkv[layer][part]);
            if (w.bqkv[layer][part] != null) {
                op.addi(qkv, NativeOps.handle(w.bqkv[layer][part]));
            }
            qkv = op.reshape(qkv, n, t, qkHeads + kvHeads, hd);
            long qk = op.slice(qkv, 2, 0, qkHeads);
            if (w.qNorm != null) {
                // Qwen3: each head's query and key through its own RMSNorm, before RoPE.
                long qn = rms(op, op.slice(qkv, 2, 0, heads));
                op.muli(qn, NativeOps.handle(w.qNorm[layer]));
                long kn = rms(op, op.slice(qkv, 2, heads, qkHeads));
                op.muli(kn, NativeOps.handle(w.kNorm[layer]));
                qk = op.cat(new long[] {qn, kn}, 2);
            }
            // HF apply_rotary_pos_emb: y * cos + rotate_half(y) * sin.
            long rotated = op.matmul(qk, NativeOps.handle(w.rotateHalf));
            op.muli(rotated, sin);
            long roped = op.mul(qk, cos);
            op.addi(roped, rotated);
            long v = op.slice(qkv, 2, qkHeads, qkHeads + kvHeads);
            long attn = ctx.attend(op, layer, part, op.slice(roped, 2, 0, heads),
                    op.slice(roped, 2, heads, qkHeads), v);
            return op.release(project(op, attn, w.wo[layer][part]));
        }
    }

    /** One part's share of down(silu(gate(h)) * up(h)) over its w.channels: [n, T, d], released for the caller. */
    private long mlp(int layer, int part, long h) {
        int width = w.channels[part + 1] - w.channels[part];
        try (NativeOps op = new NativeOps()) {
            long gateUp = project(op, h, w.wGateUp[layer][part]);
            long gate = op.slice(gateUp, 2, 0, width);
            long act = activation(op, gate);
            op.muli(act, op.slice(gateUp, 2, width, 2L * width));
            return op.release(project(op, act, w.wDown[layer][part]));
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
    private long project(NativeOps op, long x, NDArray weight) {
        return w.bfloat16Weights ? op.linearBfloat16(x, NativeOps.handle(weight))
                : op.matmul(x, NativeOps.handle(weight));
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
            long[] logits = new long[w.headParts];
            try {
                team.run(w.headParts, p -> {
                    try (NativeOps part = new NativeOps()) {
                        logits[p] = part.release(project(part, h, w.lmHead[p]));
                    }
                });
            } finally {
                adoptAll(op, logits);
            }
            long out = w.headParts == 1 ? logits[0] : op.cat(logits, -1);
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

    // The differentiable forward for training: block(), attention(), mlp() and head() above in plain NDArray ops,
    // on the same weights, in the same order of operations (parts summed in part order), with no in-place edits
    // and no cache, all on the calling thread.

    @Override
    public NDArray trainingEmbed(NDManager step, long[] ids, int rows, int tokens) {
        boolean plain = !block.qkNorm() && !block.gemmaNorms() && block.attnSoftcap() == 0
                && block.finalSoftcap() == 0 && block.activation() == BlockOptions.Activation.SILU
                && block.slidingWindows().stream().allMatch(win -> win == 0) && !w.bfloat16Weights;
        if (!plain) {
            throw new UnsupportedOperationException("training runs on Llama, Mistral and Qwen2 blocks in float32 with"
                    + " full attention; this model's blocks (q/k norms, Gemma 2 norms or soft-caps, sliding windows or"
                    + " bfloat16 weights) have no differentiable forward yet");
        }
        return w.embed.get(step, new NDIndex("{}", step.create(ids))).reshape(rows, tokens, c.hiddenSize());
    }

    @Override
    public NDArray trainingBlock(int layer, NDArray x) {
        NDManager step = x.getManager();
        int t = (int) x.getShape().get(1);
        int hd = c.headDim();
        NDArray cos = w.cosTable.get(step, new NDIndex("0:" + t)).reshape(1, t, 1, hd);
        NDArray sin = w.sinTable.get(step, new NDIndex("0:" + t)).reshape(1, t, 1, hd);
        float[] causal = new float[t * t];
        for (int q = 0; q < t; q++) {
            for (int k = q + 1; k < t; k++) {
                causal[q * t + k] = Float.NEGATIVE_INFINITY;
            }
        }
        NDArray mask = step.create(causal, new Shape(1, 1, 1, t, t)).toType(x.getDataType(), false);
        NDArray h = trainingRms(x);
        NDArray mid = x;
        for (int a = 0; a < w.attnParts; a++) {
            mid = mid.add(trainingAttention(layer, a, h, cos, sin, mask));
        }
        NDArray h2 = trainingRms(mid);
        NDArray out = mid;
        for (int m = 0; m < w.mlpParts; m++) {
            int width = w.channels[m + 1] - w.channels[m];
            NDArray gateUp = h2.matMul(w.wGateUp[layer][m]);
            NDArray gate = gateUp.get(":, :, 0:" + width);
            NDArray act = ai.djl.nn.Activation.sigmoid(gate).mul(gate).mul(gateUp.get(":, :, " + width + ":"));
            out = out.add(act.matMul(w.wDown[layer][m]));
        }
        return out;
    }

    private NDArray trainingAttention(int layer, int part, NDArray h, NDArray cos, NDArray sin, NDArray mask) {
        long n = h.getShape().get(0);
        long t = h.getShape().get(1);
        int hd = c.headDim();
        int heads = c.numHeads() / w.attnParts;
        int kvHeads = c.numKvHeads() / w.attnParts;
        int qkHeads = heads + kvHeads;
        int group = heads / kvHeads;
        NDArray qkv = h.matMul(w.wqkv[layer][part]);
        if (w.bqkv[layer][part] != null) {
            qkv = qkv.add(w.bqkv[layer][part]);
        }
        qkv = qkv.reshape(n, t, qkHeads + kvHeads, hd);
        NDArray qk = qkv.get(":, :, 0:" + qkHeads);
        NDArray roped = qk.mul(cos).add(qk.matMul(w.rotateHalf).mul(sin));
        NDArray q = roped.get(":, :, 0:" + heads);
        NDArray kt = roped.get(":, :, " + heads + ":").transpose(0, 2, 3, 1);      // [n, kv_heads, hd, T]
        NDArray vt = qkv.get(":, :, " + qkHeads + ":").transpose(0, 2, 1, 3);      // [n, kv_heads, T, hd]
        // [n, heads, T, hd] grouped as [n, kv_heads, group*T, hd]: head h reads kv head h / group (repeat_kv).
        NDArray qg = q.transpose(0, 2, 1, 3).reshape(n, kvHeads, group * t, hd);
        NDArray scores = qg.matMul(kt).reshape(n, kvHeads, group, t, t).add(mask).softmax(-1)
                .reshape(n, kvHeads, group * t, t);
        NDArray attn = scores.matMul(vt).reshape(n, heads, t, hd).transpose(0, 2, 1, 3)
                .reshape(n, t, (long) heads * hd);
        return attn.matMul(w.wo[layer][part]);
    }

    @Override
    public NDArray trainingHead(NDArray x) {
        NDArray h = trainingRms(x);
        NDList parts = new NDList(w.headParts);
        for (int p = 0; p < w.headParts; p++) {
            parts.add(h.matMul(w.lmHead[p]));
        }
        return w.headParts == 1 ? parts.get(0) : NDArrays.concat(parts, -1);
    }

    /** {@link #rms} without in-place ops. */
    private NDArray trainingRms(NDArray x) {
        return x.mul(x.mul(x).mean(new int[] {-1}, true).add(eps).pow(-0.5f));
    }

    @Override
    public void close() {
        manager.close();
    }
}

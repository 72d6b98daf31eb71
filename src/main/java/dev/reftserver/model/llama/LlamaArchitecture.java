package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.Attention;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.DifferentiableBlocks;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.StepBatch;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.ops.CpuTeam;
import dev.reftserver.model.ops.Elementwise;
import dev.reftserver.model.ops.Linear;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ops.Views;


/**
 * The Llama family (HF modeling_llama.py and its relatives): pre-norm blocks with RMSNorm, rotate-half RoPE,
 * grouped-query attention (optionally with q/k/v bias, as Qwen2 has), and a gated MLP; what each family adds
 * (Qwen3's q/k norms, Gemma's norms, Gemma 2's soft-caps, sliding windows) comes from {@link BlockOptions}. At load
 * time the projections are fused (q, k and v in one matrix; gate and up in another) and laid out for the device's
 * matrix multiply, and the RMSNorm weights and the attention scale are folded into them ({@link LlamaWeights}), so a decode step is a few
 * dozen device ops per block.
 *
 * <p>On a {@link CpuTeam} of several threads each block runs as parts side by side: attention split by key/value
 * heads (each part projects, rotates, caches and attends over its own heads, then multiplies by its rows of
 * o_proj), the MLP split by channels (its columns of gate and up, its rows of down), and the output layer by
 * vocabulary ({@link Linear} holds each part's slice). The parts' partial sums are added to the residual stream in
 * part order.
 */
public final class LlamaArchitecture implements Architecture {

    private final ModelConfig c;
    private final NDManager manager;
    private final CpuTeam team;
    private final LlamaWeights w;
    private final BlockOptions block;
    private final Elementwise fn;
    private final Attention attention;
    /** [layer] */
    private final Linear[] qkvProj;
    private final Linear[] oProj;
    private final Linear[] gateUpProj;
    private final Linear[] downProj;
    private final Linear lmHead;
    /** 1/cap and cap of the final soft-cap (Gemma 2); null without. */
    private final NDArray finalCapInverse;
    private final NDArray finalCap;
    private final LlamaTrainingForward training;

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
        this(manager, ckpt, dtype, team, bfloat16Weights, bfloat16Weights && !manager.getDevice().isGpu());
    }

    /**
     * @param pack pack bfloat16 weights for oneDNN (what a CPU does); without, they stay plain bfloat16 arrays
     *             multiplied by libtorch's {@code linear}, as on a GPU (tests run that layout on a CPU)
     */
    public LlamaArchitecture(NDManager manager, Checkpoint ckpt, DataType dtype, CpuTeam team,
            boolean bfloat16Weights, boolean pack) {
        this.c = ckpt.config();
        this.manager = manager;
        this.team = team;
        this.block = c.block();
        this.w = new LlamaWeights(manager, ckpt, dtype, team.size(), bfloat16Weights, pack);
        this.fn = new Elementwise(manager, c.normEps());
        // The attention scale is folded into the q projection (or Qwen3's q_norm) at load, except in bfloat16.
        this.attention = new Attention(manager, c, w.attnParts, w.queryScale, dtype);
        qkvProj = w.qkvProj;
        oProj = w.oProj;
        gateUpProj = w.gateUpProj;
        downProj = w.downProj;
        lmHead = w.lmHeadProj;
        boolean capped = block.finalSoftcap() > 0;
        finalCapInverse = capped ? manager.create((float) (1 / block.finalSoftcap())) : null;
        finalCap = capped ? manager.create((float) block.finalSoftcap()) : null;
        training = new LlamaTrainingForward(c, w, ckpt, manager);
    }

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public int attentionParts() {
        return w.attnParts;
    }

    @Override
    public NDArray embed(long[] ids, StepBatch batch) {
        NDManager step = batch.step();
        NDArray row = ids.length == 1 ? w.tokens.view(step, ids[0]) : null;
        if (row != null) {
            // One token (a batch-1 decode step): its row of the table as a view.
            return row.reshape(1, 1, c.hiddenSize());
        }
        try (NativeOps op = new NativeOps()) {
            return op.keep(op.reshape(w.tokens.rows(op, step, ids), batch.rows(), batch.tokens(), c.hiddenSize()), step);
        }
    }

    @Override
    public NDArray block(int layer, NDArray x, StepBatch batch, KvCache cache) {
        RopeTables rope = w.ropeOf(layer);
        boolean own = rope == w.rope;
        long cos = NativeOps.handle(batch.memo(own ? "rope.cos" : "rope.sliding.cos",
                () -> ropeRows(rope, rope.cos(), batch)));
        long sin = NativeOps.handle(batch.memo(own ? "rope.sin" : "rope.sliding.sin",
                () -> ropeRows(rope, rope.sin(), batch)));
        try (NativeOps op = new NativeOps()) {
            // x + o_proj(attn(rope(q), rope(k), v)) on the normalised input; then x + down(act(gate(h)) * up(h)).
            long h = weighted(op, fn.rms(op, NativeOps.handle(x)), w.inputNorm, layer);
            long[] attn = team.runParts(op, w.attnParts, a -> selfAttention(layer, a, h, cos, sin, batch, cache));
            long mid = residual(op, NativeOps.handle(x), attn, w.postAttnNorm, layer);
            long h2 = weighted(op, fn.rms(op, mid), w.mlpNorm, layer);
            long[] mlp = team.runParts(op, w.mlpParts, m -> mlp(layer, m, h2));
            return op.keep(residual(op, mid, mlp, w.postMlpNorm, layer), batch.step());
        }
    }

    /** The normalised {@code h} times the layer's norm weight where it is not folded into the next projection. */
    private static long weighted(NativeOps op, long h, NDArray[] norm, int layer) {
        if (norm != null) {
            op.muli(h, NativeOps.handle(norm[layer]));
        }
        return h;
    }

    /** One part's share of o_proj(attention) over its heads: [n, T, d], released for the caller to adopt. */
    private long selfAttention(int layer, int part, long h, long cos, long sin, StepBatch batch, KvCache cache) {
        long n = batch.rows();
        long t = batch.tokens();
        int hd = c.headDim();
        int heads = c.numHeads() / w.attnParts;
        int kvHeads = c.numKvHeads() / w.attnParts;
        int qkHeads = heads + kvHeads;
        try (NativeOps op = new NativeOps()) {
            long qkv = op.reshape(qkvProj[layer].apply(op, h, part), n, t, qkHeads + kvHeads, hd);
            long qk = op.slice(qkv, 2, 0, qkHeads);
            if (w.qNorm != null) {
                // Qwen3: each head's query and key through its own RMSNorm, before RoPE.
                long qn = fn.rms(op, op.slice(qkv, 2, 0, heads));
                op.muli(qn, NativeOps.handle(w.qNorm[layer]));
                long kn = fn.rms(op, op.slice(qkv, 2, heads, qkHeads));
                op.muli(kn, NativeOps.handle(w.kNorm[layer]));
                qk = op.cat(new long[] {qn, kn}, 2);
            }
            // HF apply_rotary_pos_emb: y * cos + rotate_half(y) * sin, its sign in the sin table ({@link
            // RopeTables}); not on a SmolLM3 NoPE layer.
            long roped = qk;
            if (block.rotates(layer)) {
                long rotated = w.ropeOf(layer).swapHalves(op, qk, 4);
                op.muli(rotated, sin);
                roped = op.mul(qk, cos);
                op.addi(roped, rotated);
            }
            long v = op.slice(qkv, 2, qkHeads, qkHeads + kvHeads);
            long attn = attention.attend(op, batch, cache, layer, part, op.slice(roped, 2, 0, heads),
                    op.slice(roped, 2, heads, qkHeads), v);
            return op.release(oProj[layer].apply(op, attn, part));
        }
    }

    /** One part's share of down(act(gate(h)) * up(h)) over its channels: [n, T, d], released for the caller. */
    private long mlp(int layer, int part, long h) {
        int width = w.channels[part + 1] - w.channels[part];
        try (NativeOps op = new NativeOps()) {
            long gateUp = gateUpProj[layer].apply(op, h, part);
            long gate = op.slice(gateUp, 2, 0, width);
            long act = block.activation().apply(fn, op, gate);
            op.muli(act, op.slice(gateUp, 2, width, 2L * width));
            return op.release(downProj[layer].apply(op, act, part));
        }
    }

    /** x plus the parts' partial sums in part order, the sum normed first where the block has a post norm. */
    private long residual(NativeOps op, long x, long[] parts, NDArray[] postNorm, int layer) {
        if (postNorm == null) {
            return op.sum(x, parts);
        }
        // Gemma 2: x + norm(sum of the parts).
        long y = parts[0];
        if (parts.length > 1) {
            y = op.add(parts[0], parts[1]);
            for (int i = 2; i < parts.length; i++) {
                op.addi(y, parts[i]);
            }
        }
        long normed = fn.rms(op, y);
        op.muli(normed, NativeOps.handle(postNorm[layer]));
        return op.add(x, normed);
    }

    @Override
    public NDArray head(NDArray x) {
        try (NativeOps op = new NativeOps()) {
            long h = fn.rms(op, NativeOps.handle(x));
            if (w.headNorm != null) {
                op.muli(h, NativeOps.handle(w.headNorm));
            }
            long out = lmHead.apply(op, team, h);
            if (finalCap != null) {
                // Gemma 2: cap * tanh(logits / cap).
                out = Elementwise.softcap(op, out, finalCapInverse, finalCap);
            }
            return op.keep(out, x.getManager());
        }
    }

    /** cos/sin rows for this step's positions, shaped [n, T, 1, hd] (or [1, hd]) to broadcast over heads. */
    private NDArray ropeRows(RopeTables rope, NDArray table, StepBatch batch) {
        int pos0 = batch.samePosition();
        if (pos0 >= 0) {
            long row = pos0 + rope.offset(c.rope(), batch.sequenceLength(0));
            return Views.slice(batch.step(), table, 0, row, row + 1);
        }
        NDArray index = batch.positions().reshape(-1);
        if (rope.longRopeFrom() >= 0) {
            // Each row's rows of the table: longrope's long factors for a sequence past the original context.
            long[] at = new long[batch.rows() * batch.tokens()];
            for (int i = 0; i < batch.rows(); i++) {
                for (int t = 0; t < batch.tokens(); t++) {
                    long offset = rope.offset(c.rope(), batch.sequenceLength(i, t));
                    at[i * batch.tokens() + t] = batch.position(i, t) + offset;
                }
            }
            index = batch.step().create(at);
        }
        try (NativeOps op = new NativeOps()) {
            long rows = op.take(NativeOps.handle(table), NativeOps.handle(index));
            return op.keep(op.reshape(rows, batch.rows(), batch.tokens(), 1, c.headDim()), batch.step());
        }
    }

    @Override
    public DifferentiableBlocks differentiable() {
        return training;
    }

    @Override
    public void close() {
        manager.close();
    }
}

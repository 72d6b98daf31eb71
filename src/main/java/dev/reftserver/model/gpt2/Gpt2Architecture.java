package dev.reftserver.model.gpt2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.Attention;
import dev.reftserver.model.DifferentiableBlocks;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.StepBatch;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.ops.CpuTeam;
import dev.reftserver.model.ops.Elementwise;
import dev.reftserver.model.ops.NativeOps;

/**
 * GPT-2 (HF modeling_gpt2.py): learned position embeddings, pre-norm blocks with LayerNorm, fused c_attn
 * projection, gelu_new MLP, on the same raw-handle ops, {@link Attention} and {@link
 * dev.reftserver.model.ops.Linear} projections as the Llama family. On a {@link CpuTeam} of several threads a block
 * runs as parts side by side ({@link Gpt2Weights}): attention by heads, the MLP by channels, the output layer by
 * vocabulary.
 */
public final class Gpt2Architecture implements Architecture {

    private final ModelConfig c;
    private final NDManager manager;
    private final CpuTeam team;
    private final Gpt2Weights w;
    private final Elementwise fn;
    /** [layer]: the attention of each layer (GPT-2 may scale each layer's scores by its own factor). */
    private final Attention[] attention;
    private final Gpt2TrainingForward training;

    public Gpt2Architecture(NDManager manager, Checkpoint ckpt, DataType dtype, CpuTeam team) {
        this.c = ckpt.config();
        this.manager = manager;
        this.team = team;
        this.w = new Gpt2Weights(manager, ckpt, dtype, team.size());
        this.fn = new Elementwise(manager, c.normEps());
        this.attention = new Attention[c.numLayers()];
        for (int l = 0; l < attention.length; l++) {
            attention[l] = l > 0 && !c.block().inverseLayerScale() ? attention[0]
                    : new Attention(manager, c, w.attnParts, c.block().queryScale(l), dtype);
        }
        this.training = new Gpt2TrainingForward(c, w);
    }

    /** wte(ids) + wpe(positions). */
    @Override
    public NDArray embed(long[] ids, StepBatch batch) {
        NDManager step = batch.step();
        try (NativeOps op = new NativeOps()) {
            long tok = op.take(NativeOps.handle(w.wte), NativeOps.handle(step.create(ids)));
            long pos = op.take(NativeOps.handle(w.wpe), NativeOps.handle(batch.positions().reshape(-1)));
            op.addi(tok, pos);
            return op.keep(op.reshape(tok, batch.rows(), batch.tokens(), c.hiddenSize()), step);
        }
    }

    @Override
    public int attentionParts() {
        return w.attnParts;
    }

    /** x + attn(ln_1(x)), then + mlp(ln_2(.)). */
    @Override
    public NDArray block(int layer, NDArray x, StepBatch batch, KvCache cache) {
        try (NativeOps op = new NativeOps()) {
            long h = layerNorm(op, NativeOps.handle(x), w.ln1w[layer], w.ln1b[layer]);
            long mid = op.sum(NativeOps.handle(x),
                    team.runParts(op, w.attnParts, a -> selfAttention(layer, a, h, batch, cache)));
            long h2 = layerNorm(op, mid, w.ln2w[layer], w.ln2b[layer]);
            long out = op.sum(mid, team.runParts(op, w.mlpParts, m -> mlp(layer, m, h2)));
            return op.keep(out, batch.step());
        }
    }

    /** One part's share of c_proj(attention) over its heads (c_proj's bias in part 0): [n, T, d], released. */
    private long selfAttention(int layer, int part, long h, StepBatch batch, KvCache cache) {
        long n = batch.rows();
        long t = batch.tokens();
        int hd = c.headDim();
        int heads = c.numHeads() / w.attnParts;
        long width = (long) heads * hd;
        try (NativeOps op = new NativeOps()) {
            long qkv = w.cAttn[layer].apply(op, h, part);
            long q = op.reshape(op.slice(qkv, 2, 0, width), n, t, heads, hd);
            long k = op.reshape(op.slice(qkv, 2, width, 2 * width), n, t, heads, hd);
            long v = op.reshape(op.slice(qkv, 2, 2 * width, 3 * width), n, t, heads, hd);
            long attn = attention[layer].attend(op, batch, cache, layer, part, q, k, v);
            return op.release(w.attnProj[layer].apply(op, attn, part));
        }
    }

    /** One part's share of c_proj(act(c_fc(h))) over its channels (act: gelu_new, ...): [n, T, d], released. */
    private long mlp(int layer, int part, long h) {
        try (NativeOps op = new NativeOps()) {
            long act = c.block().activation().apply(fn, op, w.cFc[layer].apply(op, h, part));
            return op.release(w.mlpProj[layer].apply(op, act, part));
        }
    }

    @Override
    public NDArray head(NDArray x) {
        try (NativeOps op = new NativeOps()) {
            long h = layerNorm(op, NativeOps.handle(x), w.lnfW, w.lnfB);
            return op.keep(w.lmHead.apply(op, team, h), x.getManager());
        }
    }

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public DifferentiableBlocks differentiable() {
        return training;
    }

    private long layerNorm(NativeOps op, long x, NDArray weight, NDArray bias) {
        return op.layerNorm(x, c.hiddenSize(), NativeOps.handle(weight), NativeOps.handle(bias), c.normEps());
    }

    @Override
    public void close() {
        manager.close();
    }
}

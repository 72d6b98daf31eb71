package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.DifferentiableBlocks;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.StepMasks;
import dev.reftserver.model.ops.Constants;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.checkpoint.Checkpoint;

/**
 * The differentiable forward of a Llama-family model for training interventions through autograd: the block of
 * {@link LlamaArchitecture} on the same weights ({@link TrainingProjections}; with bfloat16 weights on a CPU the
 * checkpoint's, {@link Bfloat16TrainingProjections}), in the same order of operations (parts summed in part order),
 * but in plain NDArray ops on the calling thread (autograd records per thread, so a {@code GradientCollector} open
 * there sees the whole graph), with no in-place edits and no cache. Rows start at position 0 and attention is causal
 * ({@link StepMasks#prefillMask}), so right padding never changes a real position.
 */
final class LlamaTrainingForward implements DifferentiableBlocks {

    private final ModelConfig c;
    private final LlamaWeights w;
    private final BlockOptions block;
    private final TrainingProjections proj;

    LlamaTrainingForward(ModelConfig c, LlamaWeights w, Checkpoint ckpt, NDManager manager) {
        this.c = c;
        this.w = w;
        this.block = c.block();
        // Packed weights (bfloat16 on a CPU) have no backward: the checkpoint's rows instead.
        this.proj = w.packed ? new Bfloat16TrainingProjections(ckpt, manager, c, w) : TrainingProjections.arrays(w);
    }

    @Override
    public NDArray embed(NDManager step, long[] ids, int rows, int tokens) {
        try (NativeOps op = new NativeOps()) {
            return op.keep(w.tokens.rows(op, step, ids), step).reshape(rows, tokens, c.hiddenSize());
        }
    }

    @Override
    public NDArray block(int layer, NDArray x) {
        NDManager step = x.getManager();
        int t = (int) x.getShape().get(1);
        int hd = c.headDim();
        RopeTables rope = w.ropeOf(layer);
        // Longrope: the long factors' rows for rows longer than the original context, as HF picks for the batch.
        long from = rope.offset(c.rope(), t);
        NDIndex rows = new NDIndex(from + ":" + (from + t));
        NDArray cos = rope.cos().get(step, rows).reshape(1, t, 1, hd);
        NDArray sin = rope.sin().get(step, rows).reshape(1, t, 1, hd);
        NDArray mask = StepMasks.prefillMask(step, new int[] {t}, t, 0, block.window(layer), x.getDataType());
        NDArray h = weighted(rms(x), w.inputNorm, layer);
        NDList attn = new NDList();
        for (int a = 0; a < proj.attnParts(); a++) {
            attn.add(attention(layer, a, rope, h, cos, sin, mask));
        }
        NDArray mid = residual(x, attn, w.postAttnNorm, layer);
        NDArray h2 = weighted(rms(mid), w.mlpNorm, layer);
        NDList mlp = new NDList();
        for (int m = 0; m < proj.mlpParts(); m++) {
            int width = proj.channels(m);
            NDArray gateUp = proj.gateUp(layer, m, h2);
            NDArray act = block.activation().differentiable(gateUp.get(":, :, 0:" + width)).mul(gateUp.get(":, :, " + width + ":"));
            mlp.add(proj.down(layer, m, act));
        }
        return residual(mid, mlp, w.postMlpNorm, layer);
    }

    /**
     * x plus the parts in part order, or (Gemma 2 and 3, with a post norm) x plus the norm of their sum: as the
     * served block adds them.
     */
    private NDArray residual(NDArray x, NDList parts, NDArray[] postNorm, int layer) {
        if (postNorm == null) {
            for (NDArray p : parts) {
                x = x.add(p);
            }
            return x;
        }
        NDArray sum = parts.get(0);
        for (int i = 1; i < parts.size(); i++) {
            sum = sum.add(parts.get(i));
        }
        return x.add(rms(sum).mul(postNorm[layer]));
    }

    private NDArray attention(int layer, int part, RopeTables rope, NDArray h, NDArray cos, NDArray sin,
            NDArray mask) {
        long n = h.getShape().get(0);
        long t = h.getShape().get(1);
        int hd = c.headDim();
        int heads = c.numHeads() / proj.attnParts();
        int kvHeads = c.numKvHeads() / proj.attnParts();
        int qkHeads = heads + kvHeads;
        int group = heads / kvHeads;
        NDArray qkv = proj.qkv(layer, part, h).reshape(n, t, qkHeads + kvHeads, hd);
        NDArray qk = qkv.get(":, :, 0:" + qkHeads);
        if (w.qNorm != null) {
            // Qwen3 and Gemma 3: each head's query and key through its own RMSNorm, before RoPE.
            qk = NDArrays.concat(new NDList(rms(qkv.get(":, :, 0:" + heads)).mul(w.qNorm[layer]),
                    rms(qkv.get(":, :, " + heads + ":" + qkHeads)).mul(w.kNorm[layer])), 2);
        }
        NDArray roped = block.rotates(layer) ? qk.mul(cos).add(rope.swapHalves(qk).mul(sin)) : qk;
        NDArray q = roped.get(":, :, 0:" + heads);
        if (w.queryScale != 1.0) {
            // bfloat16 weights: the attention scale, not folded into them.
            q = q.mul(Constants.of(h.getManager(), (float) w.queryScale));
        }
        NDArray kt = roped.get(":, :, " + heads + ":").transpose(0, 2, 3, 1);      // [n, kv_heads, hd, T]
        NDArray vt = qkv.get(":, :, " + qkHeads + ":").transpose(0, 2, 1, 3);      // [n, kv_heads, T, hd]
        // [n, heads, T, hd] grouped as [n, kv_heads, group*T, hd]: head h reads kv head h / group (repeat_kv).
        NDArray qg = q.transpose(0, 2, 1, 3).reshape(n, kvHeads, group * t, hd);
        NDArray scores = qg.matMul(kt);
        if (block.attnSoftcap() > 0) {
            // Gemma 2: cap * tanh(scores / cap), before the mask.
            scores = softcap(scores, block.attnSoftcap());
        }
        scores = scores.reshape(n, kvHeads, group, t, t).add(mask).softmax(-1).reshape(n, kvHeads, group * t, t);
        NDArray attn = scores.matMul(vt).reshape(n, heads, t, hd).transpose(0, 2, 1, 3)
                .reshape(n, t, (long) heads * hd);
        return proj.o(layer, part, attn);
    }

    @Override
    public NDArray head(NDArray x) {
        NDArray logits = proj.head(w.headNorm == null ? rms(x) : rms(x).mul(w.headNorm));
        return block.finalSoftcap() > 0 ? softcap(logits, block.finalSoftcap()) : logits;
    }

    /** The normalised h times the layer's norm weight where it is not folded into the projections (bfloat16). */
    private static NDArray weighted(NDArray h, NDArray[] norm, int layer) {
        return norm == null ? h : h.mul(norm[layer]);
    }

    /** {@code cap * tanh(x / cap)}, as the served block computes it (times 1/cap, tanh, times cap). */
    private static NDArray softcap(NDArray x, double cap) {
        NDManager step = x.getManager();
        return x.mul(Constants.of(step, (float) (1 / cap))).tanh().mul(Constants.of(step, (float) cap));
    }

    /**
     * RMSNorm without its weight, as {@link dev.reftserver.model.ops.Elementwise#rms} but without in-place ops. The
     * constants are arrays of x's manager, not {@code pow(Number)}: see {@link Constants}.
     */
    private NDArray rms(NDArray x) {
        NDManager step = x.getManager();
        return x.mul(x.mul(x).mean(new int[] {-1}, true).add(Constants.of(step, (float) c.normEps()))
                .pow(Constants.of(step, -0.5f)));
    }
}

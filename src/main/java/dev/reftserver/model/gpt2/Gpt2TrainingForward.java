package dev.reftserver.model.gpt2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import dev.reftserver.model.DifferentiableBlocks;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.StepMasks;
import dev.reftserver.model.ops.Constants;
import dev.reftserver.model.ops.NativeOps;

/**
 * The differentiable forward of GPT-2 for training interventions through autograd: the block of
 * {@link Gpt2Architecture} on the same weights ({@link dev.reftserver.model.ops.Linear#trainingApply}, parts summed
 * in part order), in plain NDArray ops on the calling thread, with no in-place edits and no cache. Rows start at
 * position 0 and attention is causal, so right padding never changes a real position.
 */
final class Gpt2TrainingForward implements DifferentiableBlocks {

    private final ModelConfig c;
    private final Gpt2Weights w;

    Gpt2TrainingForward(ModelConfig c, Gpt2Weights w) {
        this.c = c;
        this.w = w;
    }

    /** wte(ids) + wpe(0 .. tokens - 1) for ids [rows, tokens] (row-major): [rows, tokens, d]. */
    @Override
    public NDArray embed(NDManager step, long[] ids, int rows, int tokens) {
        try (NativeOps op = new NativeOps()) {
            NDArray tok = op.keep(op.take(NativeOps.handle(w.wte), NativeOps.handle(step.create(ids))), step);
            NDArray pos = w.wpe.get(step, new NDIndex("0:" + tokens));
            return tok.reshape(rows, tokens, c.hiddenSize()).add(pos);
        }
    }

    /** x + attn(ln_1(x)), then + mlp(ln_2(.)), for x [n, T, d]. */
    @Override
    public NDArray block(int layer, NDArray x) {
        NDManager step = x.getManager();
        int t = (int) x.getShape().get(1);
        NDArray mask = StepMasks.prefillMask(step, new int[] {t}, t, 0, 0, x.getDataType()).reshape(1, 1, t, t);
        NDArray h = layerNorm(x, w.ln1w[layer], w.ln1b[layer]);
        NDArray mid = x;
        for (int a = 0; a < w.attnParts; a++) {
            mid = mid.add(attention(layer, a, h, mask));
        }
        NDArray h2 = layerNorm(mid, w.ln2w[layer], w.ln2b[layer]);
        NDArray out = mid;
        for (int m = 0; m < w.mlpParts; m++) {
            NDArray act = c.block().activation().differentiable(w.cFc[layer].trainingApply(h2, m));
            out = out.add(w.mlpProj[layer].trainingApply(act, m));
        }
        return out;
    }

    /** One part's share of c_proj(attention) over its heads. */
    private NDArray attention(int layer, int part, NDArray h, NDArray mask) {
        long n = h.getShape().get(0);
        long t = h.getShape().get(1);
        int hd = c.headDim();
        int heads = c.numHeads() / w.attnParts;
        long width = (long) heads * hd;
        NDArray qkv = w.cAttn[layer].trainingApply(h, part);
        NDArray q = qkv.get(":, :, 0:" + width).reshape(n, t, heads, hd).transpose(0, 2, 1, 3);
        NDArray kt = qkv.get(":, :, " + width + ":" + 2 * width).reshape(n, t, heads, hd).transpose(0, 2, 3, 1);
        NDArray v = qkv.get(":, :, " + 2 * width + ":").reshape(n, t, heads, hd).transpose(0, 2, 1, 3);
        // The query scale (1 / sqrt(head_dim), and 1 / (layer + 1) where the config says so), as the served block.
        NDArray scores = q.mul(Constants.of(h.getManager(), (float) c.block().queryScale(layer))).matMul(kt)
                .add(mask).softmax(-1);
        NDArray attn = scores.matMul(v).transpose(0, 2, 1, 3).reshape(n, t, width);
        return w.attnProj[layer].trainingApply(attn, part);
    }

    /** ln_f, then the output layer: x [m, d] to logits [m, vocab]. */
    @Override
    public NDArray head(NDArray x) {
        NDArray h = layerNorm(x, w.lnfW, w.lnfB);
        int parts = w.lmHead.parts();
        NDList out = new NDList(parts);
        for (int p = 0; p < parts; p++) {
            out.add(w.lmHead.trainingApply(h, p));
        }
        return parts == 1 ? out.get(0) : NDArrays.concat(out, -1);
    }

    private NDArray layerNorm(NDArray x, NDArray weight, NDArray bias) {
        return LayerNorm.layerNorm(x, new Shape(c.hiddenSize()), weight, bias, (float) c.normEps()).singletonOrThrow();
    }
}

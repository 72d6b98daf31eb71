package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Activation;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.ops.Constants;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.StepBatch;

/**
 * The differentiable forward of a Llama-family model for training interventions through autograd: the block of
 * {@link LlamaArchitecture} on the same weights, in the same order of operations (parts summed in part order), but in
 * plain NDArray ops on the calling thread (autograd records per thread, so a {@code GradientCollector} open there
 * sees the whole graph), with no in-place edits and no cache. Rows start at position 0 and attention is causal
 * ({@link StepBatch#prefillMask}), so right padding never changes a real position.
 */
final class LlamaTrainingForward {

    private final ModelConfig c;
    private final LlamaWeights w;
    private final BlockOptions block;

    LlamaTrainingForward(ModelConfig c, LlamaWeights w) {
        this.c = c;
        this.w = w;
        this.block = c.block();
    }

    /** Why these blocks have no differentiable forward yet, or null where they have one. */
    String untrainable() {
        boolean plain = !block.qkNorm() && !block.gemmaNorms() && block.attnSoftcap() == 0
                && block.finalSoftcap() == 0 && block.activation() == BlockOptions.Activation.SILU
                && block.slidingWindows().stream().allMatch(win -> win == 0) && !w.bfloat16Weights;
        return plain ? null : "training runs on Llama, Mistral and Qwen2 blocks in float32 with full attention; this"
                + " model's blocks (q/k norms, Gemma norms or soft-caps, sliding windows or bfloat16 weights) have no"
                + " differentiable forward yet";
    }

    /** Token embeddings of ids [rows, tokens] (row-major) to [rows, tokens, d]. */
    NDArray embed(NDManager step, long[] ids, int rows, int tokens) {
        String why = untrainable();
        if (why != null) {
            throw new UnsupportedOperationException(why);
        }
        try (NativeOps op = new NativeOps()) {
            return op.keep(w.tokens.rows(op, step, ids), step).reshape(rows, tokens, c.hiddenSize());
        }
    }

    /** Block {@code layer} of x [n, T, d]. */
    NDArray block(int layer, NDArray x) {
        NDManager step = x.getManager();
        int t = (int) x.getShape().get(1);
        int hd = c.headDim();
        // Longrope: the long factors' rows for rows longer than the original context, as HF picks for the batch.
        long from = w.rope.offset(c.rope(), t);
        NDIndex rows = new NDIndex(from + ":" + (from + t));
        NDArray cos = w.rope.cos().get(step, rows).reshape(1, t, 1, hd);
        NDArray sin = w.rope.sin().get(step, rows).reshape(1, t, 1, hd);
        NDArray mask = StepBatch.prefillMask(step, new int[] {t}, t, 0, 0, x.getDataType());
        NDArray h = rms(x);
        NDArray mid = x;
        for (int a = 0; a < w.attnParts; a++) {
            mid = mid.add(attention(layer, a, h, cos, sin, mask));
        }
        NDArray h2 = rms(mid);
        NDArray out = mid;
        for (int m = 0; m < w.mlpParts; m++) {
            int width = w.channels[m + 1] - w.channels[m];
            NDArray gateUp = h2.matMul(w.wGateUp[layer][m]);
            if (w.bGateUp != null) {
                gateUp = gateUp.add(w.bGateUp[layer][m]);
            }
            NDArray gate = gateUp.get(":, :, 0:" + width);
            NDArray act = Activation.sigmoid(gate).mul(gate).mul(gateUp.get(":, :, " + width + ":"));
            NDArray down = act.matMul(w.wDown[layer][m]);
            out = out.add(m == 0 && w.bDown != null ? down.add(w.bDown[layer]) : down);
        }
        return out;
    }

    private NDArray attention(int layer, int part, NDArray h, NDArray cos, NDArray sin, NDArray mask) {
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
        NDArray roped = block.rotates(layer) ? qk.mul(cos).add(w.rope.swapHalves(qk).mul(sin)) : qk;
        NDArray q = roped.get(":, :, 0:" + heads);
        NDArray kt = roped.get(":, :, " + heads + ":").transpose(0, 2, 3, 1);      // [n, kv_heads, hd, T]
        NDArray vt = qkv.get(":, :, " + qkHeads + ":").transpose(0, 2, 1, 3);      // [n, kv_heads, T, hd]
        // [n, heads, T, hd] grouped as [n, kv_heads, group*T, hd]: head h reads kv head h / group (repeat_kv).
        NDArray qg = q.transpose(0, 2, 1, 3).reshape(n, kvHeads, group * t, hd);
        NDArray scores = qg.matMul(kt).reshape(n, kvHeads, group, t, t).add(mask).softmax(-1)
                .reshape(n, kvHeads, group * t, t);
        NDArray attn = scores.matMul(vt).reshape(n, heads, t, hd).transpose(0, 2, 1, 3)
                .reshape(n, t, (long) heads * hd);
        NDArray out = attn.matMul(w.wo[layer][part]);
        return part == 0 && w.bo != null ? out.add(w.bo[layer]) : out;
    }

    /** Final norm and output layer: x [m, d] to logits [m, vocab]. */
    NDArray head(NDArray x) {
        NDArray h = w.headNorm == null ? rms(x) : rms(x).mul(w.headNorm);
        NDList parts = new NDList(w.headParts);
        for (int p = 0; p < w.headParts; p++) {
            parts.add(h.matMul(w.lmHead[p]));
        }
        return w.headParts == 1 ? parts.get(0) : NDArrays.concat(parts, -1);
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

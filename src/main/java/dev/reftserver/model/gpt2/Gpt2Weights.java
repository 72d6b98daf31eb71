package dev.reftserver.model.gpt2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.ops.Linear;
import dev.reftserver.model.ops.Split;

/**
 * A GPT-2 checkpoint's weights as the block computes with them, cut into the parts a
 * {@link dev.reftserver.model.ops.CpuTeam} runs side by side: attention by heads (each part's q, k and v columns of
 * c_attn, its rows of c_proj), the MLP by channels, the output layer by vocabulary. HF stores GPT-2's projections
 * as Conv1D weights [in, out], the input-major layout {@link Linear} wants; the output layer is transposed to it
 * once here. GPT-2 checkpoints are small, so each tensor is read whole as floats.
 */
final class Gpt2Weights {

    final int attnParts;
    final int mlpParts;
    final NDArray wte;
    final NDArray wpe;
    /** [layer] */
    final NDArray[] ln1w;
    final NDArray[] ln1b;
    final Linear[] cAttn;
    final Linear[] attnProj;
    final NDArray[] ln2w;
    final NDArray[] ln2b;
    final Linear[] cFc;
    final Linear[] mlpProj;
    final NDArray lnfW;
    final NDArray lnfB;
    final Linear lmHead;
    private final NDManager manager;
    private final DataType dtype;

    Gpt2Weights(NDManager manager, Checkpoint ckpt, DataType dtype, int teamSize) {
        this.manager = manager;
        this.dtype = dtype;
        ModelConfig c = ckpt.config();
        int d = c.hiddenSize();
        int inner = c.intermediateSize();
        int layers = c.numLayers();
        attnParts = Split.largestDivisorAtMost(c.numHeads(), teamSize);
        mlpParts = Math.min(teamSize, inner);
        int headParts = Math.min(teamSize, c.vocabSize());
        float[] embedding = ckpt.require("transformer.wte.weight", c.vocabSize(), d).data();
        wte = load(embedding, c.vocabSize(), d);
        wpe = load(ckpt.require("transformer.wpe.weight", c.maxPositions(), d).data(), c.maxPositions(), d);
        ln1w = new NDArray[layers];
        ln1b = new NDArray[layers];
        cAttn = new Linear[layers];
        attnProj = new Linear[layers];
        ln2w = new NDArray[layers];
        ln2b = new NDArray[layers];
        cFc = new Linear[layers];
        mlpProj = new Linear[layers];
        for (int l = 0; l < layers; l++) {
            String p = "transformer.h." + l + ".";
            ln1w[l] = vector(ckpt, p + "ln_1.weight", d);
            ln1b[l] = vector(ckpt, p + "ln_1.bias", d);
            cAttn[l] = fusedQkv(ckpt.require(p + "attn.c_attn.weight", d, 3L * d).data(),
                    ckpt.require(p + "attn.c_attn.bias", 3L * d).data(), d);
            attnProj[l] = Linear.rows(manager, ckpt.require(p + "attn.c_proj.weight", d, d).data(),
                    ckpt.require(p + "attn.c_proj.bias", d).data(), d, d, attnParts, dtype);
            ln2w[l] = vector(ckpt, p + "ln_2.weight", d);
            ln2b[l] = vector(ckpt, p + "ln_2.bias", d);
            cFc[l] = Linear.columns(manager, ckpt.require(p + "mlp.c_fc.weight", d, inner).data(),
                    ckpt.require(p + "mlp.c_fc.bias", inner).data(), d, inner, mlpParts, dtype);
            mlpProj[l] = Linear.rows(manager, ckpt.require(p + "mlp.c_proj.weight", inner, d).data(),
                    ckpt.require(p + "mlp.c_proj.bias", d).data(), inner, d, mlpParts, dtype);
        }
        lnfW = vector(ckpt, "transformer.ln_f.weight", d);
        lnfB = vector(ckpt, "transformer.ln_f.bias", d);
        float[] head = c.tiedEmbeddings()
                ? embedding : ckpt.require("lm_head.weight", c.vocabSize(), d).data();
        lmHead = Linear.columns(manager, Split.transpose(head, c.vocabSize(), d), null, d, c.vocabSize(), headParts,
                dtype);
    }

    /**
     * c_attn [d, 3d] (q, k and v side by side) cut by heads: part a holds the q, k and v columns of its heads, fused
     * as [d, 3 * width] in that order, and the matching bias.
     */
    private Linear fusedQkv(float[] w, float[] bias, int d) {
        int width = d / attnParts;
        NDArray[] weights = new NDArray[attnParts];
        NDArray[] biases = new NDArray[attnParts];
        for (int a = 0; a < attnParts; a++) {
            int c0 = a * width;
            float[] part = new float[d * 3 * width];
            float[] b = new float[3 * width];
            for (int j = 0; j < 3; j++) {
                float[] block = Split.columns(w, d, 3 * d, j * d + c0, j * d + c0 + width);
                for (int r = 0; r < d; r++) {
                    System.arraycopy(block, r * width, part, r * 3 * width + j * width, width);
                }
                System.arraycopy(bias, j * d + c0, b, j * width, width);
            }
            weights[a] = load(part, d, 3L * width);
            biases[a] = load(b, 3L * width);
        }
        return new Linear(Linear.Cut.COLUMNS, weights, biases, false);
    }

    private NDArray vector(Checkpoint ckpt, String name, int width) {
        return load(ckpt.require(name, width).data(), width);
    }

    private NDArray load(float[] data, long... shape) {
        return manager.create(data, new Shape(shape)).toType(dtype, false);
    }
}

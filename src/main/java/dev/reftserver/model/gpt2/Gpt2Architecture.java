package dev.reftserver.model.gpt2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.AttentionContext;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.Projection;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.TensorData;
import dev.reftserver.model.ops.CpuTeam;
import dev.reftserver.model.ops.Split;
import dev.reftserver.model.ops.Views;

/**
 * GPT-2 (HF modeling_gpt2.py): learned position embeddings, pre-norm blocks with LayerNorm, fused c_attn
 * projection, gelu_new MLP. HF stores GPT-2's projections as Conv1D weights [in, out], which is the layout
 * {@link Projection} wants; the output layer is transposed to it once at load.
 *
 * <p>On a {@link CpuTeam} of several threads a block runs as parts side by side, as in the Llama family: attention
 * split by heads (each part's columns of c_attn, its rows of c_proj), the MLP by channels, the output layer by
 * vocabulary; c_proj's biases are added once, by part 0.
 */
public final class Gpt2Architecture implements Architecture {

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    private final ModelConfig c;
    private final NDManager manager;
    private final CpuTeam team;
    private final int attnParts;
    private final int mlpParts;
    private final int headParts;
    private final NDArray wte;
    private final NDArray wpe;
    private final NDArray[] ln1w;
    private final NDArray[] ln1b;
    /** [layer][part] */
    private final NDArray[][] attnW;
    private final NDArray[][] attnB;
    private final NDArray[][] projW;
    private final NDArray[] projB;
    private final NDArray[] ln2w;
    private final NDArray[] ln2b;
    private final NDArray[][] fcW;
    private final NDArray[][] fcB;
    private final NDArray[][] outW;
    private final NDArray[] outB;
    private final NDArray lnfW;
    private final NDArray lnfB;
    private final NDArray[] lmHead;

    public Gpt2Architecture(NDManager manager, Checkpoint ckpt, DataType dtype, CpuTeam team) {
        this.c = ckpt.config();
        this.manager = manager;
        this.team = team;
        int d = c.hiddenSize();
        int inner = c.intermediateSize();
        int layers = c.numLayers();
        attnParts = Split.largestDivisorAtMost(c.numHeads(), team.size());
        mlpParts = Math.min(team.size(), inner);
        headParts = Math.min(team.size(), c.vocabSize());
        int width = d / attnParts;
        int[] channels = Split.ranges(inner, mlpParts);
        TensorData embedding = ckpt.require("transformer.wte.weight", c.vocabSize(), d);
        wte = load(embedding.data(), dtype, c.vocabSize(), d);
        wpe = load(ckpt.require("transformer.wpe.weight", c.maxPositions(), d).data(), dtype, c.maxPositions(), d);
        ln1w = new NDArray[layers];
        ln1b = new NDArray[layers];
        attnW = new NDArray[layers][attnParts];
        attnB = new NDArray[layers][attnParts];
        projW = new NDArray[layers][attnParts];
        projB = new NDArray[layers];
        ln2w = new NDArray[layers];
        ln2b = new NDArray[layers];
        fcW = new NDArray[layers][mlpParts];
        fcB = new NDArray[layers][mlpParts];
        outW = new NDArray[layers][mlpParts];
        outB = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            String p = "transformer.h." + l + ".";
            ln1w[l] = load(ckpt.require(p + "ln_1.weight", d).data(), dtype, d);
            ln1b[l] = load(ckpt.require(p + "ln_1.bias", d).data(), dtype, d);
            float[] cAttn = ckpt.require(p + "attn.c_attn.weight", d, 3L * d).data();
            float[] cAttnB = ckpt.require(p + "attn.c_attn.bias", 3L * d).data();
            float[] cProj = ckpt.require(p + "attn.c_proj.weight", d, d).data();
            for (int a = 0; a < attnParts; a++) {
                // Part a: heads [a*width/hd, (a+1)*width/hd): its q, k and v columns of c_attn.
                int c0 = a * width;
                float[] w = new float[d * 3 * width];
                float[] b = new float[3 * width];
                for (int j = 0; j < 3; j++) {
                    float[] block = Split.columns(cAttn, d, 3 * d, j * d + c0, j * d + c0 + width);
                    for (int r = 0; r < d; r++) {
                        System.arraycopy(block, r * width, w, r * 3 * width + j * width, width);
                    }
                    System.arraycopy(cAttnB, j * d + c0, b, j * width, width);
                }
                attnW[l][a] = load(w, dtype, d, 3L * width);
                attnB[l][a] = load(b, dtype, 3L * width);
                projW[l][a] = load(Split.rows(cProj, d, c0, c0 + width), dtype, width, d);
            }
            projB[l] = load(ckpt.require(p + "attn.c_proj.bias", d).data(), dtype, d);
            ln2w[l] = load(ckpt.require(p + "ln_2.weight", d).data(), dtype, d);
            ln2b[l] = load(ckpt.require(p + "ln_2.bias", d).data(), dtype, d);
            float[] cFc = ckpt.require(p + "mlp.c_fc.weight", d, inner).data();
            float[] cFcB = ckpt.require(p + "mlp.c_fc.bias", inner).data();
            float[] cOut = ckpt.require(p + "mlp.c_proj.weight", inner, d).data();
            for (int m = 0; m < mlpParts; m++) {
                int i0 = channels[m];
                int i1 = channels[m + 1];
                fcW[l][m] = load(Split.columns(cFc, d, inner, i0, i1), dtype, d, i1 - i0);
                fcB[l][m] = load(Split.range(cFcB, i0, i1), dtype, i1 - i0);
                outW[l][m] = load(Split.rows(cOut, d, i0, i1), dtype, i1 - i0, d);
            }
            outB[l] = load(ckpt.require(p + "mlp.c_proj.bias", d).data(), dtype, d);
        }
        lnfW = load(ckpt.require("transformer.ln_f.weight", d).data(), dtype, d);
        lnfB = load(ckpt.require("transformer.ln_f.bias", d).data(), dtype, d);
        float[] head = c.tiedEmbeddings()
                ? embedding.data() : ckpt.require("lm_head.weight", c.vocabSize(), d).data();
        int[] vocab = Split.ranges(c.vocabSize(), headParts);
        lmHead = new NDArray[headParts];
        for (int h = 0; h < headParts; h++) {
            int rows = vocab[h + 1] - vocab[h];
            lmHead[h] = load(Projection.transpose(Split.rows(head, d, vocab[h], vocab[h + 1]), rows, d), dtype, d,
                    rows);
        }
    }

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public NDArray embed(long[] ids, AttentionContext ctx) {
        NDArray tok = wte.get(ctx.step(), new NDIndex("{}", ctx.step().create(ids)));
        NDArray pos = wpe.get(ctx.step(), new NDIndex("{}", ctx.positions().reshape(-1)));
        return tok.add(pos).reshape(ctx.rows(), ctx.tokens(), c.hiddenSize());
    }

    @Override
    public int attentionParts() {
        return attnParts;
    }

    @Override
    public NDArray block(int layer, NDArray x, AttentionContext ctx) {
        NDArray[] h = ctx.share(layerNorm(x, ln1w[layer], ln1b[layer]), attnParts);
        NDArray[] attn = new NDArray[attnParts];
        team.run(attnParts, a -> attn[a] = attention(layer, a, h[a], ctx));
        NDArray mid = sum(x, attn);
        NDArray[] h2 = ctx.share(layerNorm(mid, ln2w[layer], ln2b[layer]), mlpParts);
        NDArray[] mlp = new NDArray[mlpParts];
        team.run(mlpParts, m -> mlp[m] = Projection.apply(geluNew(Projection.apply(h2[m], fcW[layer][m],
                fcB[layer][m])), outW[layer][m], m == 0 ? outB[layer] : null));
        return sum(mid, mlp);
    }

    /** One part's share of c_proj(attention) over its heads (with c_proj's bias in part 0): [n, T, d]. */
    private NDArray attention(int layer, int part, NDArray h, AttentionContext ctx) {
        long n = ctx.rows();
        long t = ctx.tokens();
        int hd = c.headDim();
        int heads = c.numHeads() / attnParts;
        long width = (long) heads * hd;
        NDArray qkv = Projection.apply(h, attnW[layer][part], attnB[layer][part]);
        NDArray q = Views.slice(qkv, 2, 0, width).reshape(n, t, heads, hd);
        NDArray k = Views.slice(qkv, 2, width, 2 * width).reshape(n, t, heads, hd);
        NDArray v = Views.slice(qkv, 2, 2 * width, 3 * width).reshape(n, t, heads, hd);
        NDArray attn = ctx.attend(layer, part, q, k, v, 1.0 / Math.sqrt(hd));
        return Projection.apply(attn, projW[layer][part], part == 0 ? projB[layer] : null);
    }

    /** x plus the parts' partial sums, in part order. */
    private static NDArray sum(NDArray x, NDArray[] parts) {
        NDArray out = x.add(parts[0]);
        for (int i = 1; i < parts.length; i++) {
            out.addi(parts[i]);
        }
        return out;
    }

    @Override
    public NDArray head(NDArray x, AttentionContext ctx) {
        if (headParts == 1) {
            return Projection.apply(layerNorm(x, lnfW, lnfB), lmHead[0], null);
        }
        NDArray[] h = ctx.share(layerNorm(x, lnfW, lnfB), headParts);
        NDArray[] logits = new NDArray[headParts];
        team.run(headParts, p -> logits[p] = Projection.apply(h[p], lmHead[p], null));
        return NDArrays.concat(new NDList(logits), -1);
    }

    /** gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    private static NDArray geluNew(NDArray x) {
        NDArray inner = x.add(x.pow(3).mul(0.044715)).mul(GELU_C).tanh();
        return x.mul(0.5).mul(inner.add(1));
    }

    private NDArray layerNorm(NDArray x, NDArray w, NDArray b) {
        return LayerNorm.layerNorm(x, new Shape(c.hiddenSize()), w, b, (float) c.normEps()).singletonOrThrow();
    }

    private NDArray load(float[] data, DataType dtype, long... shape) {
        return manager.create(data, new Shape(shape)).toType(dtype, false);
    }

    @Override
    public void close() {
        manager.close();
    }
}

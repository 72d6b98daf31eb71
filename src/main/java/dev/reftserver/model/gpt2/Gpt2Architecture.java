package dev.reftserver.model.gpt2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;
import dev.reftserver.model.Architecture;
import dev.reftserver.model.AttentionContext;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.Projection;
import dev.reftserver.model.Views;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.TensorData;

/**
 * GPT-2 (HF modeling_gpt2.py): learned position embeddings, pre-norm blocks with LayerNorm, fused c_attn
 * projection, gelu_new MLP. HF stores GPT-2's projections as Conv1D weights [in, out], which is the layout
 * {@link Projection} wants; the output layer is transposed to it once at load.
 */
public final class Gpt2Architecture implements Architecture {

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    private final ModelConfig c;
    private final NDManager manager;
    private final NDArray wte;
    private final NDArray wpe;
    private final NDArray[] ln1w;
    private final NDArray[] ln1b;
    private final NDArray[] attnW;
    private final NDArray[] attnB;
    private final NDArray[] projW;
    private final NDArray[] projB;
    private final NDArray[] ln2w;
    private final NDArray[] ln2b;
    private final NDArray[] fcW;
    private final NDArray[] fcB;
    private final NDArray[] outW;
    private final NDArray[] outB;
    private final NDArray lnfW;
    private final NDArray lnfB;
    private final NDArray lmHead;

    public Gpt2Architecture(NDManager manager, Checkpoint ckpt, DataType dtype) {
        this.c = ckpt.config();
        this.manager = manager;
        int d = c.hiddenSize();
        int inner = c.intermediateSize();
        int layers = c.numLayers();
        wte = load(ckpt.require("transformer.wte.weight", c.vocabSize(), d), dtype);
        wpe = load(ckpt.require("transformer.wpe.weight", c.maxPositions(), d), dtype);
        ln1w = new NDArray[layers];
        ln1b = new NDArray[layers];
        attnW = new NDArray[layers];
        attnB = new NDArray[layers];
        projW = new NDArray[layers];
        projB = new NDArray[layers];
        ln2w = new NDArray[layers];
        ln2b = new NDArray[layers];
        fcW = new NDArray[layers];
        fcB = new NDArray[layers];
        outW = new NDArray[layers];
        outB = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            String p = "transformer.h." + l + ".";
            ln1w[l] = load(ckpt.require(p + "ln_1.weight", d), dtype);
            ln1b[l] = load(ckpt.require(p + "ln_1.bias", d), dtype);
            attnW[l] = load(ckpt.require(p + "attn.c_attn.weight", d, 3L * d), dtype);
            attnB[l] = load(ckpt.require(p + "attn.c_attn.bias", 3L * d), dtype);
            projW[l] = load(ckpt.require(p + "attn.c_proj.weight", d, d), dtype);
            projB[l] = load(ckpt.require(p + "attn.c_proj.bias", d), dtype);
            ln2w[l] = load(ckpt.require(p + "ln_2.weight", d), dtype);
            ln2b[l] = load(ckpt.require(p + "ln_2.bias", d), dtype);
            fcW[l] = load(ckpt.require(p + "mlp.c_fc.weight", d, inner), dtype);
            fcB[l] = load(ckpt.require(p + "mlp.c_fc.bias", inner), dtype);
            outW[l] = load(ckpt.require(p + "mlp.c_proj.weight", inner, d), dtype);
            outB[l] = load(ckpt.require(p + "mlp.c_proj.bias", d), dtype);
        }
        lnfW = load(ckpt.require("transformer.ln_f.weight", d), dtype);
        lnfB = load(ckpt.require("transformer.ln_f.bias", d), dtype);
        lmHead = (c.tiedEmbeddings() ? wte : load(ckpt.require("lm_head.weight", c.vocabSize(), d), dtype))
                .transpose().duplicate();
    }

    @Override
    public ModelConfig config() {
        return c;
    }

    @Override
    public NDArray embed(NDArray ids, AttentionContext ctx) {
        Shape s = ids.getShape();
        NDArray tok = wte.get(ctx.step(), new NDIndex("{}", ids.reshape(-1)));
        NDArray pos = wpe.get(ctx.step(), new NDIndex("{}", ctx.positions().reshape(-1)));
        return tok.add(pos).reshape(s.get(0), s.get(1), c.hiddenSize());
    }

    @Override
    public NDArray block(int layer, NDArray x, AttentionContext ctx) {
        long n = x.getShape().get(0);
        long t = x.getShape().get(1);
        int d = c.hiddenSize();
        int heads = c.numHeads();
        int hd = c.headDim();
        NDArray h = layerNorm(x, ln1w[layer], ln1b[layer]);
        NDArray qkv = Projection.apply(h, attnW[layer], attnB[layer]);
        NDArray q = Views.slice(qkv, 2, 0, d).reshape(n, t, heads, hd);
        NDArray k = Views.slice(qkv, 2, d, 2L * d).reshape(n, t, heads, hd);
        NDArray v = Views.slice(qkv, 2, 2L * d, 3L * d).reshape(n, t, heads, hd);
        NDArray attn = ctx.attend(layer, q, k, v, 1.0 / Math.sqrt(hd));
        x = x.add(Projection.apply(attn, projW[layer], projB[layer]));
        h = layerNorm(x, ln2w[layer], ln2b[layer]);
        NDArray m = geluNew(Projection.apply(h, fcW[layer], fcB[layer]));
        return x.add(Projection.apply(m, outW[layer], outB[layer]));
    }

    @Override
    public NDArray head(NDArray x) {
        return Projection.apply(layerNorm(x, lnfW, lnfB), lmHead, null);
    }

    /** gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    private static NDArray geluNew(NDArray x) {
        NDArray inner = x.add(x.pow(3).mul(0.044715)).mul(GELU_C).tanh();
        return x.mul(0.5).mul(inner.add(1));
    }

    private NDArray layerNorm(NDArray x, NDArray w, NDArray b) {
        return LayerNorm.layerNorm(x, new Shape(c.hiddenSize()), w, b, (float) c.normEps()).singletonOrThrow();
    }

    private NDArray load(TensorData t, DataType dtype) {
        NDArray a = manager.create(t.data(), new Shape(t.shape()));
        return a.toType(dtype, false);
    }

    @Override
    public void close() {
        manager.close();
    }
}

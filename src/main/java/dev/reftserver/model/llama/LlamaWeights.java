package dev.reftserver.model.llama;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.NativeOps;
import dev.reftserver.model.Projection;
import dev.reftserver.model.Split;
import dev.reftserver.model.checkpoint.Checkpoint;

/**
 * A Llama-family checkpoint's weights as the block computes with them: q, k and v fused into one matrix and gate
 * and up into another, stored input-major, with the RMSNorm weights (w, or Gemma's 1 + w) and the attention scale
 * folded in, and cut into the parts a {@link dev.reftserver.model.CpuTeam} runs side by side (attention by key/value
 * heads, the MLP by channels, the output layer by vocabulary). Tensors are read from the checkpoint one at a time.
 */
final class LlamaWeights {

    final boolean bfloat16Weights;
    final int attnParts;
    final int mlpParts;
    final int headParts;
    /** Boundaries of the MLP channels each part owns. */
    final int[] channels;
    final NDArray embed;
    /** [layer][part]: input-major, norm weights and the attention scale folded in. */
    final NDArray[][] wqkv;
    final NDArray[][] bqkv;
    final NDArray[][] wo;
    final NDArray[][] wGateUp;
    final NDArray[][] wDown;
    /** [part]: vocabulary slices of the output layer, the final norm folded in. */
    final NDArray[] lmHead;
    /** Qwen3's per-head query norm (times the attention scale) and key norm, [layer]; null elsewhere. */
    final NDArray[] qNorm;
    final NDArray[] kNorm;
    /** Gemma 2's norms of the attention and MLP outputs ((1 + w)), [layer]; null elsewhere. */
    final NDArray[] postAttnNorm;
    final NDArray[] postMlpNorm;
    /** cos/sin of every position [maxPos, head_dim], and rotate_half as a matrix. */
    final NDArray cosTable;
    final NDArray sinTable;
    final NDArray rotateHalf;
    private final BlockOptions block;
    private final NDManager manager;
    private final DataType dtype;

    LlamaWeights(NDManager manager, Checkpoint ckpt, DataType dtype, int teamSize, boolean bfloat16Weights) {
        this.bfloat16Weights = bfloat16Weights;
        this.manager = manager;
        this.dtype = dtype;
        ModelConfig c = ckpt.config();
        this.block = c.block();
        boolean gemma = block.gemmaNorms();
        int d = c.hiddenSize();
        int hd = c.headDim();
        int q = c.numHeads() * hd;
        int kv = c.kvDim();
        int inter = c.intermediateSize();
        int layers = c.numLayers();
        attnParts = Split.largestDivisorAtMost(c.numKvHeads(), teamSize);
        mlpParts = Math.min(teamSize, inter);
        headParts = Math.min(teamSize, c.vocabSize());
        int qPart = q / attnParts;
        int kvPart = kv / attnParts;
        channels = Split.ranges(inter, mlpParts);
        // The attention scale folds into q (RoPE is linear, so scaling before or after it is the same); with
        // Qwen3's q_norm it folds into that norm's weight instead, since the norm would undo it.
        float attnScale = (float) block.queryScale();
        float scale = block.qkNorm() ? 1f : attnScale;
        // Each tensor is read as a new native float32 array straight from the checkpoint's bytes, folded, fused and
        // laid out by libtorch's elementwise ops (the same float32 products, in the same order, as the fold would
        // give in Java), and only the finished arrays move to the model's manager: temporaries live in `read` or a
        // layer's sub-manager, freed as soon as the layer is done, so the Java heap never holds a weight.
        try (NDManager read = NDManager.newBaseManager(Device.cpu())) {
            NDArray embedding = ckpt.requireNative(read, "model.embed_tokens.weight", c.vocabSize(), d);
            // Gemma 2 multiplies the embedding by sqrt(hidden_size) as a float32 scalar: the same products, folded.
            embed = keepWeight(gemma ? embedding.mul((float) Math.sqrt(d)) : embedding);
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
                try (NDManager lm = read.newSubManager()) {
                    String p = "model.layers." + l + ".";
                    NDArray attnNorm = norm(lm, ckpt, p + "input_layernorm.weight", d);
                    if (block.qkNorm()) {
                        qNorm[l] = keepVector(norm(lm, ckpt, p + "self_attn.q_norm.weight", hd).mul(attnScale));
                        kNorm[l] = keepVector(norm(lm, ckpt, p + "self_attn.k_norm.weight", hd));
                    }
                    if (gemma) {
                        postAttnNorm[l] = keepVector(norm(lm, ckpt, p + "post_attention_layernorm.weight", d));
                        postMlpNorm[l] = keepVector(norm(lm, ckpt, p + "post_feedforward_layernorm.weight", d));
                    }
                    // RMSNorm's weight folds into the columns of the projection that follows it: W diag(g), after
                    // the attention scale ((w * scale) * g, as the fold has always been computed).
                    NDArray wq = scaled(ckpt.requireNative(lm, p + "self_attn.q_proj.weight", q, d), scale)
                            .mul(attnNorm);
                    NDArray wk = ckpt.requireNative(lm, p + "self_attn.k_proj.weight", kv, d).mul(attnNorm);
                    NDArray wv = ckpt.requireNative(lm, p + "self_attn.v_proj.weight", kv, d).mul(attnNorm);
                    NDArray woFull = ckpt.requireNative(lm, p + "self_attn.o_proj.weight", d, q);
                    NDArray bq = null;
                    NDArray bk = null;
                    NDArray bv = null;
                    if (c.attentionBias()) {
                        bq = scaled(ckpt.requireNative(lm, p + "self_attn.q_proj.bias", q), scale);
                        bk = ckpt.requireNative(lm, p + "self_attn.k_proj.bias", kv);
                        bv = ckpt.requireNative(lm, p + "self_attn.v_proj.bias", kv);
                    }
                    for (int a = 0; a < attnParts; a++) {
                        // Part a: kv heads [a*kvPart, (a+1)*kvPart) and the query heads that read them (repeat_kv).
                        String qRows = rows(a * qPart, qPart);
                        String kvRows = rows(a * kvPart, kvPart);
                        wqkv[l][a] = keepInputMajor(
                                NDArrays.concat(new NDList(wq.get(qRows), wk.get(kvRows), wv.get(kvRows))));
                        if (bq != null) {
                            bqkv[l][a] = keepVector(
                                    NDArrays.concat(new NDList(bq.get(qRows), bk.get(kvRows), bv.get(kvRows))));
                        }
                        wo[l][a] = keepInputMajor(woFull.get(":, " + qRows));
                    }
                    // Llama's norm before the MLP is post_attention_layernorm; Gemma 2 names it
                    // pre_feedforward_layernorm.
                    NDArray mlpNorm = norm(lm, ckpt, p + (gemma ? "pre_feedforward_layernorm.weight"
                            : "post_attention_layernorm.weight"), d);
                    NDArray gate = ckpt.requireNative(lm, p + "mlp.gate_proj.weight", inter, d).mul(mlpNorm);
                    NDArray up = ckpt.requireNative(lm, p + "mlp.up_proj.weight", inter, d).mul(mlpNorm);
                    NDArray down = ckpt.requireNative(lm, p + "mlp.down_proj.weight", d, inter);
                    for (int m = 0; m < mlpParts; m++) {
                        String part = rows(channels[m], channels[m + 1] - channels[m]);
                        wGateUp[l][m] = keepInputMajor(NDArrays.concat(new NDList(gate.get(part), up.get(part))));
                        wDown[l][m] = keepInputMajor(down.get(":, " + part));
                    }
                }
            }
            NDArray finalNorm = norm(read, ckpt, "model.norm.weight", d);
            NDArray head = c.tiedEmbeddings()
                    ? embedding : ckpt.requireNative(read, "lm_head.weight", c.vocabSize(), d);
            int[] vocab = Split.ranges(c.vocabSize(), headParts);
            lmHead = new NDArray[headParts];
            for (int h = 0; h < headParts; h++) {
                try (NDManager hm = read.newSubManager()) {
                    // head may be the embedding, already the model's: its slices and products are temporaries here
                    NDArray rows = head.get(rows(vocab[h], vocab[h + 1] - vocab[h]));
                    rows.attach(hm);
                    NDArray folded = rows.mul(finalNorm);
                    folded.attach(hm);
                    lmHead[h] = keepInputMajor(folded);
                }
            }
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
    private NDArray norm(NDManager m, Checkpoint ckpt, String name, int width) {
        NDArray w = ckpt.requireNative(m, name, width);
        return block.gemmaNorms() ? w.add(1f) : w;
    }

    /** w * s as float32 products; s = 1 leaves w as it is (x * 1 is x). */
    private static NDArray scaled(NDArray w, float s) {
        return s == 1f ? w : w.mul(s);
    }

    /** The index of {@code count} rows from {@code from}. */
    private static String rows(int from, int count) {
        return from + ":" + (from + count);
    }

    /**
     * A row-major [out, in] float32 weight (a temporary) as the model's [in, out] weight for {@link Projection}: a new
     * contiguous array of the model's manager, in bfloat16 or the model's dtype.
     */
    private NDArray keepInputMajor(NDArray outIn) {
        NDArray w = outIn.toDevice(manager.getDevice(), false);
        try (NativeOps op = new NativeOps()) {
            long h = NativeOps.handle(w);
            if (bfloat16Weights) {
                return op.keep(op.transposedBfloat16(h), manager);
            }
            return inDtype(op.keep(op.transposed(h), manager));
        }
    }

    /** A float32 embedding (a new array, or a temporary this takes over) in bfloat16 or the model's dtype. */
    private NDArray keepWeight(NDArray f) {
        if (!bfloat16Weights) {
            return keepVector(f);
        }
        try (NativeOps op = new NativeOps()) {
            return op.keep(op.bfloat16(NativeOps.handle(f.toDevice(manager.getDevice(), false))), manager);
        }
    }

    /** A float32 vector or table (a new array this takes over) as an array of the model's manager and dtype. */
    private NDArray keepVector(NDArray f) {
        NDArray v = f.toDevice(manager.getDevice(), false);
        v.attach(manager);
        return inDtype(v);
    }

    /** {@code a} (of the model's manager) in the model's dtype, {@code a} itself when already in it. */
    private NDArray inDtype(NDArray a) {
        NDArray t = a.toType(dtype, false);
        if (t != a) {
            a.close();
        }
        return t;
    }

    private NDArray load(float[] data, DataType dtype, long... shape) {
        return manager.create(data, new Shape(shape)).toType(dtype, false);
    }

}

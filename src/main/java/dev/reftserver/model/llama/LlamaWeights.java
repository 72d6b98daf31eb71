package dev.reftserver.model.llama;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.BlockOptions;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.Rope;
import dev.reftserver.model.ops.Linear;
import dev.reftserver.model.ops.Linear.Cut;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ops.Split;
import dev.reftserver.model.ops.Tasks;
import dev.reftserver.model.checkpoint.Checkpoint;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Llama-family checkpoint's weights as the block computes with them: q, k and v fused into one matrix and gate
 * and up into another (float32 input-major, bfloat16 output-major: {@link ProjectionFold}), with the RMSNorm weights
 * (w, or Gemma's 1 + w) and the attention scale folded in (float32; bfloat16 weights are the stored rows, and the
 * norms and the scale are applied to the activations), and cut into the parts a
 * {@link dev.reftserver.model.ops.CpuTeam} runs side by side (attention by key/value heads, the MLP by channels, the
 * output layer by vocabulary). With tied embeddings the table is held once, as the output layer
 * ({@link TokenTable}). Tensors are read from the checkpoint one at a time.
 */
final class LlamaWeights {

    final boolean bfloat16Weights;
    /** The projections are packed for oneDNN (bfloat16 on a CPU): their arrays are null. */
    final boolean packed;
    final int attnParts;
    final int mlpParts;
    final int headParts;
    /** Boundaries of the MLP channels each part owns. */
    final int[] channels;
    /**
     * The embedding table [vocab, d], or null where the output layer shares it (tied embeddings, weights not in
     * bfloat16): rows are then read as columns of {@link #lmHead}'s parts ({@link TokenTable}), so the model holds
     * the table once.
     */
    final NDArray embed;
    /**
     * The final norm's weight [d] where the output layer shares the embedding table or weights are bfloat16,
     * applied to the normalised hidden state before it (as HF does); null where it is folded into {@link #lmHead}.
     */
    final NDArray headNorm;
    /**
     * With bfloat16 weights, which are not folded: the RMSNorm weights before attention and before the MLP [layer],
     * applied to the normalised input, and the attention scale; else null and 1 (folded into the projections).
     */
    final NDArray[] inputNorm;
    final NDArray[] mlpNorm;
    final double queryScale;
    /** Token rows, from {@link #embed} or the output layer's parts. */
    final TokenTable tokens;
    /** The projections [layer] and the output layer, fused, folded, cut and (bfloat16 on a CPU) packed. */
    final Linear[] qkvProj;
    final Linear[] oProj;
    final Linear[] gateUpProj;
    final Linear[] downProj;
    final Linear lmHeadProj;
    /** The same weights [layer][part] as arrays (see {@link ProjectionFold}), or null entries where packed. */
    final NDArray[][] wqkv;
    final NDArray[][] bqkv;
    final NDArray[][] wo;
    final NDArray[][] wGateUp;
    final NDArray[][] wDown;
    /** Biases of o_proj [layer], of gate and up [layer][part] (as wGateUp) and of down [layer]; null without. */
    final NDArray[] bo;
    final NDArray[][] bGateUp;
    final NDArray[] bDown;
    /** [part]: vocabulary slices of the output layer, as the projections (the final norm folded in or not). */
    final NDArray[] lmHead;
    /** Qwen3's per-head query norm (times the attention scale) and key norm, [layer]; null elsewhere. */
    final NDArray[] qNorm;
    final NDArray[] kNorm;
    /** Gemma 2's norms of the attention and MLP outputs ((1 + w)), [layer]; null elsewhere. */
    final NDArray[] postAttnNorm;
    final NDArray[] postMlpNorm;
    /** RoPE's cos/sin rows and rotate_half; Gemma 3's sliding-window layers' own (else null). */
    final RopeTables rope;
    final RopeTables slidingRope;
    private final BlockOptions block;
    private final Placement place;

    /** @param pack pack bfloat16 projections for oneDNN as they are made (on a CPU; the arrays are then not kept) */
    LlamaWeights(NDManager manager, Checkpoint ckpt, DataType dtype, int teamSize, boolean bfloat16Weights,
            boolean pack) {
        this.bfloat16Weights = bfloat16Weights;
        this.packed = pack && bfloat16Weights;
        this.place = new Placement(manager, dtype, bfloat16Weights);
        ModelConfig c = ckpt.config();
        this.block = c.block();
        int d = c.hiddenSize();
        // Gemma multiplies the embedding by sqrt(hidden_size), Granite by embedding_multiplier (float32 scalars).
        float embMul = block.gemmaNorms() ? (float) Math.sqrt(d) : (float) block.multipliers().embedding();
        // Granite's residual_multiplier folds into o_proj and down_proj (and their biases), like the scales below.
        float resMul = (float) block.multipliers().residual();
        float[] outMul = resMul == 1f ? null : ProjectionFold.columnScales(d, 0, resMul);
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
        // bfloat16 weights are not folded: the norms and the attention scale are applied to the activations (in
        // float32, as the block computes), so a projection is its stored rows, copied and packed.
        float attnScale = (float) block.queryScale();
        float scale = block.qkNorm() || bfloat16Weights ? 1f : attnScale;
        queryScale = block.qkNorm() || !bfloat16Weights ? 1.0 : attnScale;
        inputNorm = bfloat16Weights ? new NDArray[layers] : null;
        mlpNorm = bfloat16Weights ? new NDArray[layers] : null;
        // Projections are fused, folded and laid out from the stored matrices by ProjectionFold (every product the
        // same float32 one, in the same order, as a fold in Java computes); only the finished arrays move to the
        // model's manager. Temporaries live in `read` or a task's sub-manager, freed when the task is done; the
        // Java heap never holds a weight. Layers, output-layer parts and RoPE's tables are tasks run side by side.
        try (NDManager read = NDManager.newBaseManager(Device.cpu());
                FoldBuffers buffers = pack && bfloat16Weights ? new FoldBuffers() : null) {
            List<Runnable> tasks = new ArrayList<>();
            RopeTables[] ropes = new RopeTables[2];
            tasks.add(() -> ropes[0] = RopeTables.of(c, place, dtype));
            tasks.add(() -> ropes[1] = block.slidingRope() == null ? null
                    : RopeTables.of(c, block.slidingRope(), place, dtype));
            NDArray[] embedded = new NDArray[1];
            boolean shared = c.tiedEmbeddings() && !bfloat16Weights;
            if (!shared) {
                tasks.add(() -> embedded[0] = place.embedding(read, ckpt, c.vocabSize(), d, embMul));
            }
            qNorm = block.qkNorm() ? new NDArray[layers] : null;
            kNorm = block.qkNorm() ? new NDArray[layers] : null;
            postAttnNorm = block.sandwichNorms() ? new NDArray[layers] : null;
            postMlpNorm = block.sandwichNorms() ? new NDArray[layers] : null;
            qkvProj = new Linear[layers];
            oProj = new Linear[layers];
            gateUpProj = new Linear[layers];
            downProj = new Linear[layers];
            wqkv = new NDArray[layers][attnParts];
            bqkv = new NDArray[layers][attnParts];
            wo = new NDArray[layers][attnParts];
            wGateUp = new NDArray[layers][mlpParts];
            wDown = new NDArray[layers][mlpParts];
            bo = block.outputBias() ? new NDArray[layers] : null;
            bGateUp = block.mlpBias() ? new NDArray[layers][mlpParts] : null;
            bDown = block.mlpBias() ? new NDArray[layers] : null;
            for (int layer = 0; layer < layers; layer++) {
                int l = layer;
                String p = "model.layers." + l + ".";
                tasks.add(() -> {
                    try (NDManager lm = read.newSubManager(); NativeOps op = new NativeOps();
                            ProjectionFold fold = new ProjectionFold(ckpt, place, bfloat16Weights, buffers, lm)) {
                        NDArray attnNorm = norm(lm, ckpt, p + "input_layernorm.weight", d);
                        if (block.qkNorm()) {
                            qNorm[l] = place.keepVector(
                                    norm(lm, ckpt, p + "self_attn.q_norm.weight", hd).mul(attnScale));
                            kNorm[l] = place.keepVector(norm(lm, ckpt, p + "self_attn.k_norm.weight", hd));
                        }
                        if (postAttnNorm != null) {
                            postAttnNorm[l] = place.keepVector(
                                    norm(lm, ckpt, p + "post_attention_layernorm.weight", d));
                            postMlpNorm[l] = place.keepVector(
                                    norm(lm, ckpt, p + "post_feedforward_layernorm.weight", d));
                        }
                        // RMSNorm's weight g folds into the projection that follows it: W diag(g), each input
                        // column of W times g (ProjectionFold); the query rows carry the attention scale.
                        float[] gAttn = folded(attnNorm, inputNorm, l);
                        float[] outScale = scale == 1f ? null : ProjectionFold.columnScales(qPart, 2 * kvPart, scale);
                        NDArray bq = null;
                        NDArray bk = null;
                        NDArray bv = null;
                        if (c.attentionBias()) {
                            bq = ProjectionFold.scaled(ckpt.requireNative(lm, p + "self_attn.q_proj.bias", q), scale);
                            bk = ckpt.requireNative(lm, p + "self_attn.k_proj.bias", kv);
                            bv = ckpt.requireNative(lm, p + "self_attn.v_proj.bias", kv);
                        }
                        NDArray[][] qkv = new NDArray[attnParts][];
                        NDArray[][] o = new NDArray[attnParts][];
                        for (int a = 0; a < attnParts; a++) {
                            // Part a: kv heads [a*kvPart, (a+1)*kvPart) and the query heads that read them.
                            int q0 = a * qPart;
                            int k0 = a * kvPart;
                            qkv[a] = fold.fused(op, List.of(
                                    new ProjectionFold.Rows(p + "self_attn.q_proj.weight", q, q0, qPart),
                                    new ProjectionFold.Rows(p + "self_attn.k_proj.weight", kv, k0, kvPart),
                                    new ProjectionFold.Rows(p + "self_attn.v_proj.weight", kv, k0, kvPart)),
                                    d, outScale, gAttn);
                            if (bq != null) {
                                String qRows = rows(q0, qPart);
                                String kvRows = rows(k0, kvPart);
                                bqkv[l][a] = place.keepVector(NDArrays.concat(
                                        new NDList(bq.get(qRows), bk.get(kvRows), bv.get(kvRows))));
                            }
                            o[a] = fold.columns(op, p + "self_attn.o_proj.weight", d, q, q0, qPart, outMul);
                        }
                        if (bo != null) {
                            bo[l] = place.keepVector(ProjectionFold.scaled(
                                    ckpt.requireNative(lm, p + "self_attn.o_proj.bias", d), resMul));
                        }
                        NDArray bGate = bDown == null ? null : ckpt.requireNative(lm, p + "mlp.gate_proj.bias", inter);
                        NDArray bUp = bDown == null ? null : ckpt.requireNative(lm, p + "mlp.up_proj.bias", inter);
                        if (bDown != null) {
                            bDown[l] = place.keepVector(ProjectionFold.scaled(
                                    ckpt.requireNative(lm, p + "mlp.down_proj.bias", d), resMul));
                        }
                        // The norm before the MLP: Llama's post_attention_layernorm, Gemma 2/3's pre_feedforward.
                        String mlpName = block.sandwichNorms() ? "pre_feedforward_layernorm.weight"
                                : "post_attention_layernorm.weight";
                        float[] gMlp = folded(norm(lm, ckpt, p + mlpName, d), mlpNorm, l);
                        NDArray[][] gateUp = new NDArray[mlpParts][];
                        NDArray[][] down = new NDArray[mlpParts][];
                        for (int m = 0; m < mlpParts; m++) {
                            int i0 = channels[m];
                            int i1 = channels[m + 1];
                            gateUp[m] = fold.fused(op, List.of(
                                    new ProjectionFold.Rows(p + "mlp.gate_proj.weight", inter, i0, i1 - i0),
                                    new ProjectionFold.Rows(p + "mlp.up_proj.weight", inter, i0, i1 - i0)),
                                    d, null, gMlp);
                            down[m] = fold.columns(op, p + "mlp.down_proj.weight", d, inter, i0, i1 - i0, outMul);
                            if (bGate != null) {
                                String mine = rows(i0, i1 - i0);
                                bGateUp[l][m] = place.keepVector(
                                        NDArrays.concat(new NDList(bGate.get(mine), bUp.get(mine))));
                            }
                        }
                        qkvProj[l] = fold.linear(Cut.COLUMNS, qkv, bqkv[l]);
                        oProj[l] = fold.linear(Cut.ROWS, o, bo == null ? null : new NDArray[] {bo[l]});
                        gateUpProj[l] = fold.linear(Cut.COLUMNS, gateUp, bGateUp == null ? null : bGateUp[l]);
                        downProj[l] = fold.linear(Cut.ROWS, down, bDown == null ? null : new NDArray[] {bDown[l]});
                        wqkv[l] = ProjectionFold.arrays(qkv, fold.packs());
                        wo[l] = ProjectionFold.arrays(o, fold.packs());
                        wGateUp[l] = ProjectionFold.arrays(gateUp, fold.packs());
                        wDown[l] = ProjectionFold.arrays(down, fold.packs());
                    }
                });
            }
            // Granite divides the logits by logits_scaling: folded into the final norm's weight.
            NDArray finalNorm = ProjectionFold.scaled(norm(read, ckpt, "model.norm.weight", d),
                    (float) (1 / block.multipliers().logitsScaling()));
            String head = c.tiedEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
            float[] g = shared || bfloat16Weights ? null : finalNorm.toFloatArray();
            int[] vocab = Split.ranges(c.vocabSize(), headParts);
            NDArray[][] headWeights = new NDArray[headParts][];
            for (int part = 0; part < headParts; part++) {
                int h = part;
                tasks.add(() -> {
                    try (NativeOps op = new NativeOps();
                            ProjectionFold fold = new ProjectionFold(ckpt, place, bfloat16Weights, buffers, read)) {
                        headWeights[h] = fold.fused(op, List.of(new ProjectionFold.Rows(head, c.vocabSize(),
                                vocab[h], vocab[h + 1] - vocab[h])), d, null, g);
                    }
                });
            }
            Tasks.runAll(tasks, teamSize);
            boolean packed = bfloat16Weights && buffers != null;
            lmHeadProj = ProjectionFold.linear(Cut.COLUMNS, headWeights, null, packed, bfloat16Weights);
            lmHead = ProjectionFold.arrays(headWeights, packed);
            embed = embedded[0];
            rope = ropes[0];
            slidingRope = ropes[1];
            headNorm = shared || bfloat16Weights ? place.keepVector(finalNorm.duplicate()) : null;
            tokens = new TokenTable(embed, lmHead, vocab, shared && embMul != 1f ? manager.create(embMul) : null,
                    bfloat16Weights);
        }
    }

    /** The RoPE tables {@code layer} rotates with. */
    RopeTables ropeOf(int layer) {
        return slidingRope != null && block.window(layer) > 0 ? slidingRope : rope;
    }

    /**
     * The norm weight {@code g} as the projection after it folds it in (float32 weights), or null where it is kept
     * as {@code kept[layer]} to be applied to the normalised activations (bfloat16 weights).
     */
    private float[] folded(NDArray g, NDArray[] kept, int layer) {
        if (kept == null) {
            return g.toFloatArray();
        }
        kept[layer] = place.keepVector(g);
        return null;
    }

    /** The RMSNorm weight {@code name}: w, or Gemma's 1 + w (computed in float32, as HF does). */
    private NDArray norm(NDManager m, Checkpoint ckpt, String name, int width) {
        NDArray w = ckpt.requireNative(m, name, width);
        return block.gemmaNorms() ? w.add(1f) : w;
    }

    /** The index of {@code count} rows from {@code from}. */
    private static String rows(int from, int count) {
        return from + ":" + (from + count);
    }
}

package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import dev.reftserver.model.ops.NativeOps;

/**
 * The projections of {@link LlamaTrainingForward}, differentiable with respect to their inputs: each returns a new
 * float32 array of the input's manager, its bias added (o_proj's and down_proj's by part 0 only). Attention parts
 * are cut by key/value heads and MLP parts by channels, as the served block cuts them.
 */
interface TrainingProjections {

    int attnParts();

    int mlpParts();

    /** The MLP channels of {@code part}. */
    int channels(int part);

    /** q, k and v of the part's heads, side by side: [n, T, (heads + 2 kv heads) * head_dim]. */
    NDArray qkv(int layer, int part, NDArray h);

    /** The part's share of o_proj (a partial sum over its heads). */
    NDArray o(int layer, int part, NDArray attn);

    /** gate and up of the part's channels, side by side: [n, T, 2 * channels]. */
    NDArray gateUp(int layer, int part, NDArray h);

    /** The part's share of down_proj (a partial sum over its channels). */
    NDArray down(int layer, int part, NDArray act);

    /** The output layer of the normalised hidden state h [m, d]: logits [m, vocab]. */
    NDArray head(NDArray h);

    /**
     * The served model's own arrays, fused, folded and cut as {@link LlamaWeights} made them: float32 (or the
     * model's dtype), or bfloat16 where not packed (a GPU), each bfloat16 product computed as the served one.
     */
    static TrainingProjections arrays(LlamaWeights w) {
        return new TrainingProjections() {
            @Override
            public int attnParts() {
                return w.attnParts;
            }

            @Override
            public int mlpParts() {
                return w.mlpParts;
            }

            @Override
            public int channels(int part) {
                return w.channels[part + 1] - w.channels[part];
            }

            @Override
            public NDArray qkv(int layer, int part, NDArray h) {
                NDArray qkv = product(h, w.wqkv[layer][part]);
                return w.bqkv[layer][part] == null ? qkv : qkv.add(w.bqkv[layer][part]);
            }

            @Override
            public NDArray o(int layer, int part, NDArray attn) {
                NDArray out = product(attn, w.wo[layer][part]);
                return part == 0 && w.bo != null ? out.add(w.bo[layer]) : out;
            }

            @Override
            public NDArray gateUp(int layer, int part, NDArray h) {
                NDArray gateUp = product(h, w.wGateUp[layer][part]);
                return w.bGateUp == null ? gateUp : gateUp.add(w.bGateUp[layer][part]);
            }

            @Override
            public NDArray down(int layer, int part, NDArray act) {
                NDArray down = product(act, w.wDown[layer][part]);
                return part == 0 && w.bDown != null ? down.add(w.bDown[layer]) : down;
            }

            @Override
            public NDArray head(NDArray h) {
                NDList parts = new NDList(w.headParts);
                for (int p = 0; p < w.headParts; p++) {
                    parts.add(product(h, w.lmHead[p]));
                }
                return w.headParts == 1 ? parts.get(0) : NDArrays.concat(parts, -1);
            }

            /** x times a weight: input-major in the model's dtype, or bfloat16 output-major. */
            private NDArray product(NDArray x, NDArray weight) {
                if (!w.bfloat16Weights) {
                    return x.matMul(weight);
                }
                try (NativeOps op = new NativeOps()) {
                    return op.keep(op.linearBfloat16(NativeOps.handle(x), NativeOps.handle(weight)),
                            x.getManager());
                }
            }
        };
    }
}

package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.StoredTensor;
import dev.reftserver.model.ops.Constants;
import dev.reftserver.model.ops.NativeOps;
import java.nio.ByteBuffer;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The projections of a model served with bfloat16 weights on a CPU, for training. The served weights are packed for
 * oneDNN, whose kernels have no backward, so each training step reads the checkpoint's stored rows instead: a view
 * of the file's memory map where a weight is stored in BF16 (no copy; the pages are those the served model was
 * packed from), else the stored values rounded to bfloat16 for the step. Each product is the served one's: the
 * float32 input rounded to bfloat16, multiplied in bfloat16 and returned as float32, through a TorchScript call
 * that autograd follows (the gradient with respect to the input is a bfloat16 product with the same weight).
 * Unlike the served parts, one part holds every head and channel; Granite's residual multiplier, folded into the
 * served o_proj and down_proj, multiplies their products here.
 */
final class Bfloat16TrainingProjections implements TrainingProjections {

    private final Checkpoint ckpt;
    private final ModelConfig c;
    private final LlamaWeights w;
    private final float residual;

    Bfloat16TrainingProjections(Checkpoint ckpt, ModelConfig c, LlamaWeights w) {
        this.ckpt = ckpt;
        this.c = c;
        this.w = w;
        this.residual = (float) c.block().multipliers().residual();
    }

    @Override
    public int attnParts() {
        return 1;
    }

    @Override
    public int mlpParts() {
        return 1;
    }

    @Override
    public int channels(int part) {
        return c.intermediateSize();
    }

    @Override
    public NDArray qkv(int layer, int part, NDArray h) {
        String p = "model.layers." + layer + ".self_attn.";
        long q = (long) c.numHeads() * c.headDim();
        long kv = c.kvDim();
        return NDArrays.concat(new NDList(projection(h, p + "q_proj", q), projection(h, p + "k_proj", kv),
                projection(h, p + "v_proj", kv)), -1);
    }

    @Override
    public NDArray o(int layer, int part, NDArray attn) {
        NDArray out = scaled(linear(attn, "model.layers." + layer + ".self_attn.o_proj.weight", c.hiddenSize(),
                (long) c.numHeads() * c.headDim()));
        return w.bo == null ? out : out.add(w.bo[layer]);
    }

    @Override
    public NDArray gateUp(int layer, int part, NDArray h) {
        String p = "model.layers." + layer + ".mlp.";
        return NDArrays.concat(new NDList(projection(h, p + "gate_proj", c.intermediateSize()),
                projection(h, p + "up_proj", c.intermediateSize())), -1);
    }

    @Override
    public NDArray down(int layer, int part, NDArray act) {
        NDArray out = scaled(linear(act, "model.layers." + layer + ".mlp.down_proj.weight", c.hiddenSize(),
                c.intermediateSize()));
        return w.bDown == null ? out : out.add(w.bDown[layer]);
    }

    @Override
    public NDArray head(NDArray h) {
        String name = c.tiedEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
        return linear(h, name, c.vocabSize(), c.hiddenSize());
    }

    /** The projection {@code name} ({@code .weight} [rows, d], and its {@code .bias} where the model has one). */
    private NDArray projection(NDArray h, String name, long rows) {
        NDArray y = linear(h, name + ".weight", rows, c.hiddenSize());
        String bias = name + ".bias";
        return ckpt.has(bias) ? y.add(ckpt.requireNative(h.getManager(), bias, rows)) : y;
    }

    private NDArray scaled(NDArray y) {
        return residual == 1f ? y : y.mul(Constants.of(y.getManager(), residual));
    }

    /** x [..., cols] times the stored weight {@code name} [rows, cols], computed in bfloat16, as float32. */
    private NDArray linear(NDArray x, String name, long rows, long cols) {
        NDManager step = x.getManager();
        try (NativeOps op = new NativeOps()) {
            long weight;
            ByteBuffer mapped = ckpt.requireMappedBfloat16(name, rows, cols);
            if (mapped != null) {
                weight = op.bfloat16View(mapped, rows, cols);
                // The map stays reachable until the step (and the backward that reads the weight) is done.
                AtomicReference<ByteBuffer> held = new AtomicReference<>(mapped);
                step.attachInternal(UUID.randomUUID().toString(), () -> held.set(null));
            } else {
                StoredTensor stored = ckpt.requireStored(step, name, rows, cols);
                long values = NativeOps.handle(stored.array());
                weight = stored.isBfloat16() ? values : op.bfloat16(values);
            }
            return op.keep(op.linearBfloat16(NativeOps.handle(x), weight), step);
        }
    }
}

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
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The projections of a model served with bfloat16 weights on a CPU, for training. The served weights are packed for
 * oneDNN, whose kernels have no backward, so training reads the checkpoint's stored rows instead: a view of the
 * file's memory map where a weight is stored in BF16 (no copy; made at the first update that needs it and kept with
 * the model, so the file is mapped once: its pages are the page cache's, at most the file's size), else the stored
 * values rounded to bfloat16 for each update. Each product is the served one's: the
 * float32 input rounded to bfloat16, multiplied in bfloat16 and returned as float32, through a TorchScript call
 * that autograd follows (the gradient with respect to the input is a bfloat16 product with the same weight).
 * Unlike the served parts, one part holds every head and channel; Granite's residual multiplier, folded into the
 * served o_proj and down_proj, multiplies their products here.
 */
final class Bfloat16TrainingProjections implements TrainingProjections {

    private final Checkpoint ckpt;
    private final NDManager manager;
    /** The mapped weights' views by name (of {@link #manager}, which holds their maps). */
    private final Map<String, NDArray> mapped = new ConcurrentHashMap<>();
    private final ModelConfig c;
    private final LlamaWeights w;
    private final float residual;

    /** @param manager the model's manager, which keeps the mapped views */
    Bfloat16TrainingProjections(Checkpoint ckpt, NDManager manager, ModelConfig c, LlamaWeights w) {
        this.ckpt = ckpt;
        this.manager = manager;
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
        return projections(h, new String[] {p + "q_proj", p + "k_proj", p + "v_proj"}, new long[] {q, kv, kv});
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
        long inter = c.intermediateSize();
        return projections(h, new String[] {p + "gate_proj", p + "up_proj"}, new long[] {inter, inter});
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

    /**
     * The projections {@code names} ({@code .weight} [rows_i, d]) of h side by side, h rounded once, their biases
     * added where the model has them.
     */
    private NDArray projections(NDArray h, String[] names, long[] rows) {
        NDManager step = h.getManager();
        long[] weights = new long[names.length];
        try (NativeOps op = new NativeOps()) {
            for (int i = 0; i < names.length; i++) {
                weights[i] = weight(op, step, names[i] + ".weight", rows[i], c.hiddenSize());
            }
            NDArray y = op.keep(op.linearBfloat16(NativeOps.handle(h), weights), step);
            if (!ckpt.has(names[0] + ".bias")) {
                return y;
            }
            NDList biases = new NDList();
            for (int i = 0; i < names.length; i++) {
                biases.add(ckpt.requireNative(step, names[i] + ".bias", rows[i]));
            }
            return y.add(NDArrays.concat(biases));
        }
    }

    private NDArray scaled(NDArray y) {
        return residual == 1f ? y : y.mul(Constants.of(y.getManager(), residual));
    }

    /** x [..., cols] times the stored weight {@code name} [rows, cols], computed in bfloat16, as float32. */
    private NDArray linear(NDArray x, String name, long rows, long cols) {
        NDManager step = x.getManager();
        try (NativeOps op = new NativeOps()) {
            return op.keep(op.linearBfloat16(NativeOps.handle(x), weight(op, step, name, rows, cols)), step);
        }
    }

    /**
     * The stored weight {@code name} [rows, cols] in bfloat16: the kept view of the file's map, or the stored
     * values (rounded where not BF16) read into {@code step}; the handle is {@code op}'s (autograd keeps its own
     * reference for the backward).
     */
    private long weight(NativeOps op, NDManager step, String name, long rows, long cols) {
        NDArray view = mapped.computeIfAbsent(name, n -> view(n, rows, cols));
        if (view != null) {
            return NativeOps.handle(view);
        }
        StoredTensor stored = ckpt.requireStored(step, name, rows, cols);
        long values = NativeOps.handle(stored.array());
        return stored.isBfloat16() ? values : op.bfloat16(values);
    }

    /** The weight {@code name} as a view of the file's memory map, kept with the model; null where not so stored. */
    private NDArray view(String name, long rows, long cols) {
        ByteBuffer bits = ckpt.requireMappedBfloat16(name, rows, cols);
        if (bits == null) {
            return null;
        }
        try (NativeOps op = new NativeOps()) {
            NDArray table = op.keep(op.bfloat16View(bits, rows, cols), manager);
            // The map stays reachable as long as the model's manager, and the view with it.
            AtomicReference<ByteBuffer> held = new AtomicReference<>(bits);
            manager.attachInternal(UUID.randomUUID().toString(), () -> held.set(null));
            return table;
        }
    }
}

package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ModelConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A model's configuration plus its weights under Hugging Face tensor names, each read as fp32 when required.
 * {@code read} collects the names a loader asked for, so that what it never read can be reported ({@link #unread}).
 */
public record Checkpoint(ModelConfig config, Map<String, LazyTensor> tensors, String source, Set<String> read) {

    public Checkpoint(ModelConfig config, Map<String, LazyTensor> tensors, String source) {
        this(config, tensors, source, ConcurrentHashMap.newKeySet());
    }

    /** A checkpoint whose tensors are already in memory (llama2.c files, tests). */
    public static Checkpoint inMemory(ModelConfig config, Map<String, TensorData> tensors, String source) {
        Map<String, LazyTensor> lazy = new LinkedHashMap<>();
        tensors.forEach((name, t) -> lazy.put(name, LazyTensor.of(t)));
        return new Checkpoint(config, lazy, source);
    }

    /** The tensor {@code name}, checked against the expected shape, then read; a clear error if missing or wrong. */
    public TensorData require(String name, long... shape) {
        return checked(name, shape).read();
    }

    /**
     * As {@link #require}, read as a new float32 array of {@code manager} (a CPU manager) without a copy on the Java
     * heap where the checkpoint's bytes allow it (safetensors files).
     */
    public NDArray requireNative(NDManager manager, String name, long... shape) {
        return checked(name, shape).readNative(manager);
    }

    /** As {@link #requireNative}, in the dtype the checkpoint stores it in (see {@link StoredTensor}). */
    public StoredTensor requireStored(NDManager manager, String name, long... shape) {
        return checked(name, shape).readStored(manager);
    }

    /**
     * The tensor {@code name}, checked as {@link #require} checks it, as a read-only map of its BF16 bytes in the
     * checkpoint's file; null where it is not stored that way (see {@link LazyTensor#mappedBfloat16}).
     */
    public java.nio.ByteBuffer requireMappedBfloat16(String name, long... shape) {
        return checked(name, shape).mappedBfloat16();
    }

    /** The matrix {@code name} [rows, cols], checked as {@link #require} checks it, row by row as stored. */
    public StoredRows requireRows(String name, long rows, long cols) {
        return checked(name, rows, cols).openRows();
    }

    private LazyTensor checked(String name, long... shape) {
        LazyTensor t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException(source + ": tensor '" + name + "' is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(source + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        read.add(name);
        return t;
    }

    /**
     * The tensors no loader has read, in checkpoint order, less those transformers also leaves unused: the RoPE
     * frequencies older checkpoints saved as buffers ({@code rotary_emb.inv_freq}), GPT-2's causal-mask buffers
     * ({@code attn.bias}, {@code attn.masked_bias}) and the output layer of a model whose embeddings are tied.
     */
    public List<String> unread() {
        List<String> out = new ArrayList<>();
        for (String name : tensors.keySet()) {
            boolean ignored = name.endsWith("rotary_emb.inv_freq")
                    || config.tiedEmbeddings() && name.equals("lm_head.weight")
                    || config.architecture() == ModelConfig.Architecture.GPT2
                            && (name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias"));
            if (!read.contains(name) && !ignored) {
                out.add(name);
            }
        }
        return out;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }
}

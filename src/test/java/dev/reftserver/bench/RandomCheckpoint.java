package dev.reftserver.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes a random-weight Hugging Face checkpoint directory in the shape of a real model, as transformers 4.x's
 * {@code save_pretrained} writes it (config.json, generation_config.json, one bf16 model.safetensors, tied
 * embeddings omitted), so real-size loading, memory and speed can be measured without downloading weights.
 * Weights are normal(0, 0.02) from a fixed seed (norms are ones, as transformers initialises them).
 *
 * <p>The tokenizer is the small Llama-2 one given on the command line, its vocabulary padded with unreachable
 * tokens {@code <xN>} up to the model's vocabulary, so every id the model can emit decodes (ids the small
 * vocabulary holds keep their meaning). Usage:
 * {@code RandomCheckpoint qwen2.5-0.5b|llama-3.2-1b|llama-3-8b OUT_DIR TOKENIZER_JSON [--max-positions=N]};
 * {@code llama-3-8b} writes its config only (for memory planning). {@code --max-positions} writes a smaller
 * {@code max_position_embeddings} than the real model's (same weights; it changes no computation within that
 * context: default rope ignores it and llama3 rope reads its original context), for a server whose KV cache is
 * sized by the context.
 */
public final class RandomCheckpoint {

    /**
     * A real model's shape; {@code bias}: q/k/v projections carry biases (Qwen2); {@code llama3Rope}: Llama 3.1/3.2
     * rope scaling (factor 32 from an 8K original context, which it reads instead of max_position_embeddings).
     */
    record Shape(String architecture, String modelType, int hidden, int layers, int heads, int kvHeads, int headDim,
            int intermediate, int vocab, boolean tied, boolean bias, double ropeTheta, boolean llama3Rope,
            int maxPositions, double rmsEps, int bos, int eos, boolean weights) {

        Shape withMaxPositions(int n) {
            return new Shape(architecture, modelType, hidden, layers, heads, kvHeads, headDim, intermediate, vocab,
                    tied, bias, ropeTheta, llama3Rope, n, rmsEps, bos, eos, weights);
        }
    }

    static Shape shape(String name) {
        return switch (name) {
            case "qwen2.5-0.5b" -> new Shape("Qwen2ForCausalLM", "qwen2", 896, 24, 14, 2, 64, 4864, 151_936, true,
                    true, 1e6, false, 32_768, 1e-6, 151_643, 151_643, true);
            case "llama-3.2-1b" -> new Shape("LlamaForCausalLM", "llama", 2048, 16, 32, 8, 64, 8192, 128_256, true,
                    false, 500_000, true, 131_072, 1e-5, 128_000, 128_001, true);
            case "llama-3-8b" -> new Shape("LlamaForCausalLM", "llama", 4096, 32, 32, 8, 128, 14_336, 128_256, false,
                    false, 500_000, false, 8192, 1e-5, 128_000, 128_001, false);
            default -> throw new IllegalArgumentException(
                    "unknown shape " + name + "; known: qwen2.5-0.5b, llama-3.2-1b, llama-3-8b");
        };
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws IOException {
        if (args.length != 3 && !(args.length == 4 && args[3].startsWith("--max-positions="))) {
            System.err.println("usage: RandomCheckpoint qwen2.5-0.5b|llama-3.2-1b|llama-3-8b OUT_DIR TOKENIZER_JSON"
                    + " [--max-positions=N]");
            System.exit(2);
        }
        Shape s = shape(args[0]);
        if (args.length == 4) {
            s = s.withMaxPositions(Integer.parseInt(args[3].split("=", 2)[1]));
        }
        Path out = Path.of(args[1]);
        Files.createDirectories(out);
        Files.writeString(out.resolve("config.json"), config(s).toPrettyString());
        Files.writeString(out.resolve("generation_config.json"), JSON.createObjectNode()
                .put("bos_token_id", s.bos()).put("eos_token_id", s.eos())
                .put("transformers_version", "4.46.0").toPrettyString());
        writeTokenizer(Path.of(args[2]), out.resolve("tokenizer.json"), s.vocab());
        if (s.weights()) {
            long bytes = writeSafetensors(out.resolve("model.safetensors"), tensors(s), 1234);
            System.out.printf(Locale.ROOT, "wrote %s: %.2f GB of bf16 weights%n", out, bytes / 1e9);
        } else {
            System.out.println("wrote " + out + " (config only)");
        }
    }

    static ObjectNode config(Shape s) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add(s.architecture());
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", s.bos());
        c.put("eos_token_id", s.eos());
        c.put("head_dim", s.headDim());
        c.put("hidden_act", "silu");
        c.put("hidden_size", s.hidden());
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", s.intermediate());
        c.put("max_position_embeddings", s.maxPositions());
        c.put("model_type", s.modelType());
        c.put("num_attention_heads", s.heads());
        c.put("num_hidden_layers", s.layers());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("rms_norm_eps", s.rmsEps());
        c.put("rope_theta", s.ropeTheta());
        c.put("tie_word_embeddings", s.tied());
        c.put("torch_dtype", "bfloat16");
        c.put("transformers_version", "4.46.0");
        c.put("use_cache", true);
        c.put("vocab_size", s.vocab());
        if (s.modelType().equals("qwen2")) {
            c.put("max_window_layers", s.layers());
            c.put("sliding_window", s.maxPositions());
            c.put("use_sliding_window", false);
        } else {
            c.put("attention_bias", false);
            c.put("mlp_bias", false);
            c.put("pretraining_tp", 1);
            if (s.llama3Rope()) {
                c.putObject("rope_scaling").put("factor", 32.0).put("high_freq_factor", 4.0)
                        .put("low_freq_factor", 1.0).put("original_max_position_embeddings", 8192)
                        .put("rope_type", "llama3");
            }
        }
        return c;
    }

    /** A tensor to write: name, shape, and whether it is a norm weight (ones) rather than random. */
    record Tensor(String name, long[] shape, boolean ones) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    static List<Tensor> tensors(Shape s) {
        List<Tensor> t = new ArrayList<>();
        long h = s.hidden();
        long q = (long) s.heads() * s.headDim();
        long kv = (long) s.kvHeads() * s.headDim();
        t.add(new Tensor("model.embed_tokens.weight", new long[] {s.vocab(), h}, false));
        t.add(new Tensor("model.norm.weight", new long[] {h}, true));
        if (!s.tied()) {
            t.add(new Tensor("lm_head.weight", new long[] {s.vocab(), h}, false));
        }
        for (int i = 0; i < s.layers(); i++) {
            String p = "model.layers." + i + ".";
            t.add(new Tensor(p + "input_layernorm.weight", new long[] {h}, true));
            t.add(new Tensor(p + "post_attention_layernorm.weight", new long[] {h}, true));
            t.add(new Tensor(p + "self_attn.q_proj.weight", new long[] {q, h}, false));
            t.add(new Tensor(p + "self_attn.k_proj.weight", new long[] {kv, h}, false));
            t.add(new Tensor(p + "self_attn.v_proj.weight", new long[] {kv, h}, false));
            t.add(new Tensor(p + "self_attn.o_proj.weight", new long[] {h, q}, false));
            if (s.bias()) {
                t.add(new Tensor(p + "self_attn.q_proj.bias", new long[] {q}, false));
                t.add(new Tensor(p + "self_attn.k_proj.bias", new long[] {kv}, false));
                t.add(new Tensor(p + "self_attn.v_proj.bias", new long[] {kv}, false));
            }
            t.add(new Tensor(p + "mlp.gate_proj.weight", new long[] {s.intermediate(), h}, false));
            t.add(new Tensor(p + "mlp.up_proj.weight", new long[] {s.intermediate(), h}, false));
            t.add(new Tensor(p + "mlp.down_proj.weight", new long[] {h, s.intermediate()}, false));
        }
        t.sort(Comparator.comparing(Tensor::name));
        return t;
    }

    /** Writes bf16 tensors in safetensors layout; returns the bytes of tensor data. */
    static long writeSafetensors(Path file, List<Tensor> tensors, long seed) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Tensor t : tensors) {
            ObjectNode e = header.putObject(t.name());
            e.put("dtype", "BF16");
            var shape = e.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            e.putArray("data_offsets").add(offset).add(offset + 2 * t.elements());
            offset += 2 * t.elements();
        }
        byte[] h = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;   // the format pads the header with spaces to 8 bytes
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(h);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(head.flip());
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Tensor t : tensors) {
                for (long i = 0; i < t.elements(); i++) {
                    float v = t.ones() ? 1f : (float) (rnd.nextGaussian() * 0.02);
                    buf.putShort(bf16(v));
                    if (!buf.hasRemaining()) {
                        drain(ch, buf);
                    }
                }
            }
            drain(ch, buf);
        }
        return offset;
    }

    private static void drain(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
        buf.clear();
    }

    /** float to bfloat16, round to nearest even, as torch's {@code .to(torch.bfloat16)}. */
    static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Copies a BPE tokenizer.json, padding its vocabulary with {@code <xN>} tokens up to {@code vocab} ids. */
    static void writeTokenizer(Path from, Path to, int vocab) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(Files.readString(from));
        ObjectNode ids = (ObjectNode) root.path("model").path("vocab");
        int max = -1;
        for (var e : ids.properties()) {
            max = Math.max(max, e.getValue().asInt());
        }
        for (var added : root.path("added_tokens").values()) {
            max = Math.max(max, added.path("id").asInt());
        }
        for (int id = max + 1; id < vocab; id++) {
            ids.put("<x" + id + ">", id);
        }
        Files.writeString(to, JSON.writeValueAsString(root));
    }

    private RandomCheckpoint() {
    }
}

package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ops.Constants;
import dev.reftserver.model.ops.Elementwise;
import dev.reftserver.model.ops.NativeOps;
import java.util.Collections;
import java.util.List;

/**
 * What a Llama-family block computes beyond plain Llama, as the Hugging Face modeling files of each family do it.
 *
 * @param queryScale      multiplies q.k: {@code head_dim^-0.5}, or Gemma 2's {@code query_pre_attn_scalar^-0.5}
 * @param qkNorm          Qwen3: each head's query and key go through their own RMSNorm ({@code q_norm},
 *                        {@code k_norm}) before RoPE
 * @param gemmaNorms      Gemma and Gemma 2: RMSNorm multiplies by {@code 1 + w}; the embedding is scaled by
 *                        {@code sqrt(hidden_size)}
 * @param attnSoftcap     Gemma 2: scores become {@code cap * tanh(scores / cap)} before the mask; 0 for none
 * @param finalSoftcap    Gemma 2: the same on the logits; 0 for none
 * @param activation      of the gated MLP: {@code down(act(gate(x)) * up(x))}
 * @param slidingWindows  per layer, how many keys a query sees (its own position included), or 0 for all
 * @param outputBias      o_proj carries a bias (Llama, Qwen3 and Gemma 2 with {@code attention_bias})
 * @param mlpBias         gate, up and down projections carry biases (Llama with {@code mlp_bias})
 * @param sandwichNorms   Gemma 2: the attention and MLP outputs are normed again ({@code post_attention_layernorm},
 *                        {@code post_feedforward_layernorm}) before the residual add, and the MLP's input norm is
 *                        {@code pre_feedforward_layernorm}
 * @param slidingRope     Gemma 3: the RoPE of the sliding-window layers (their own base); null where every layer
 *                        rotates with the model's
 * @param rotates         per layer, whether q and k rotate at all (SmolLM3's NoPE layers do not)
 * @param multipliers     Granite's scalars: the embedding's, the residual branches' and the logits' divisor
 * @param inverseLayerScale GPT-2's {@code scale_attn_by_inverse_layer_idx}: layer l's scores are divided by l + 1 too
 */
public record BlockOptions(double queryScale, boolean qkNorm, boolean gemmaNorms, double attnSoftcap,
        double finalSoftcap, Activation activation, List<Integer> slidingWindows, boolean outputBias,
        boolean mlpBias, boolean sandwichNorms, Rope slidingRope, List<Boolean> rotates, Multipliers multipliers,
        boolean inverseLayerScale) {

    /** The gated MLP's activation. */
    public enum Activation {
        /** {@code x * sigmoid(x)} (Llama's {@code silu}). */
        SILU,
        /** GELU with the tanh approximation (Gemma's {@code gelu_pytorch_tanh}, GPT-2's {@code gelu_new}). */
        GELU_TANH,
        /** GELU in its exact (erf) form ({@code gelu}). */
        GELU,
        /** {@code max(x, 0)} ({@code relu}). */
        RELU;

        /** This activation of g, as a new array. */
        public long apply(Elementwise fn, NativeOps op, long g) {
            return switch (this) {
                case SILU -> fn.silu(op, g);
                case GELU_TANH -> fn.geluTanh(op, g);
                case GELU -> op.gelu(g);
                case RELU -> op.relu(g);
            };
        }

        /**
         * This activation of g for a differentiable forward: out-of-place ops autograd follows, computed as
         * {@link #apply} computes it, its constants arrays of g's manager ({@link Constants}).
         */
        public NDArray differentiable(NDArray g) {
            NDManager step = g.getManager();
            return switch (this) {
                case SILU -> ai.djl.nn.Activation.sigmoid(g).mul(g);
                case GELU_TANH -> {
                    NDArray inner = g.mul(g).mul(Constants.of(step, 0.044715f)).add(Constants.of(step, 1f)).mul(g)
                            .mul(Constants.of(step, (float) Math.sqrt(2 / Math.PI)));
                    yield inner.tanh().add(Constants.of(step, 1f)).mul(Constants.of(step, 0.5f)).mul(g);
                }
                case GELU -> ai.djl.nn.Activation.gelu(g);
                case RELU -> ai.djl.nn.Activation.relu(g);
            };
        }
    }

    /**
     * Granite's {@code embedding_multiplier} (times the embedding), {@code residual_multiplier} (times each
     * attention and MLP output before its residual add) and {@code logits_scaling} (divides the logits); all 1
     * elsewhere.
     */
    public record Multipliers(double embedding, double residual, double logitsScaling) {

        public static final Multipliers NONE = new Multipliers(1, 1, 1);
    }

    public BlockOptions {
        slidingWindows = List.copyOf(slidingWindows);
        rotates = List.copyOf(rotates);
    }

    /** Plain Llama: 1/sqrt(head_dim), SiLU, full attention everywhere. */
    public static BlockOptions llama(int layers, int headDim) {
        return new BlockOptions(1.0 / Math.sqrt(headDim), false, false, 0, 0, Activation.SILU,
                Collections.nCopies(layers, 0), false, false, false, null, Collections.nCopies(layers, true),
                Multipliers.NONE, false);
    }

    /**
     * GPT-2: scores scaled by 1/sqrt(head_dim) unless {@code scale_attn_weights} is false, and by 1/(l + 1) at layer
     * l with {@code scale_attn_by_inverse_layer_idx}; the MLP's activation (not gated).
     */
    public static BlockOptions gpt2(int layers, int headDim, boolean scaleWeights, boolean inverseLayerScale,
            Activation activation) {
        return new BlockOptions(scaleWeights ? 1.0 / Math.sqrt(headDim) : 1.0, false, false, 0, 0, activation,
                Collections.nCopies(layers, 0), false, false, false, null, Collections.nCopies(layers, true),
                Multipliers.NONE, inverseLayerScale);
    }

    /** What multiplies q at {@code layer}: the query scale, divided by l + 1 where the scale is by inverse layer. */
    public double queryScale(int layer) {
        return inverseLayerScale ? queryScale / (layer + 1) : queryScale;
    }

    /** Whether {@code layer} applies RoPE to its queries and keys. */
    public boolean rotates(int layer) {
        return rotates.get(layer);
    }

    /** Keys a query of {@code layer} sees, or 0 for all of them. */
    public int window(int layer) {
        return slidingWindows.get(layer);
    }
}

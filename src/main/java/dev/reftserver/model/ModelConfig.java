package dev.reftserver.model;

import java.util.List;

/**
 * The base model's hyper-parameters, whichever checkpoint format they came from.
 *
 * @param architecture      which block layout the weights follow
 * @param vocabSize         number of token ids
 * @param hiddenSize        residual stream width d
 * @param intermediateSize  MLP width
 * @param numLayers         transformer blocks
 * @param numHeads          query heads
 * @param numKvHeads        key/value heads (grouped-query attention when fewer than {@code numHeads})
 * @param headDim           width of one head
 * @param maxPositions      context length the model was trained for
 * @param rope              rotary position embedding (Llama family)
 * @param normEps           RMSNorm / LayerNorm epsilon
 * @param tiedEmbeddings    whether the output layer reuses the token embedding
 * @param attentionBias     whether q/k/v projections carry a bias (Qwen2; Llama, Qwen3, Gemma 2 with attention_bias)
 * @param bosId             beginning-of-sequence id, or -1
 * @param eosIds            ids that end a generation (config.json, else generation_config.json); may be empty
 * @param block             what a Llama-family block does beyond plain Llama (Qwen3, Gemma 2, sliding windows)
 */
public record ModelConfig(
        Architecture architecture,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int maxPositions,
        Rope rope,
        double normEps,
        boolean tiedEmbeddings,
        boolean attentionBias,
        int bosId,
        List<Integer> eosIds,
        BlockOptions block) {

    /** The block layouts this runtime implements. */
    public enum Architecture {
        /** Llama, Mistral, Qwen2/3, Gemma 2, Phi-3: RMSNorm, RoPE, gated MLP, grouped-query attention. */
        LLAMA,
        /** GPT-2: LayerNorm, learned positions, gelu_new MLP, Conv1D weights. */
        GPT2
    }

    public ModelConfig {
        eosIds = List.copyOf(eosIds);
        if (block.slidingWindows().size() != numLayers) {
            throw new IllegalArgumentException(block.slidingWindows().size() + " sliding windows for " + numLayers
                    + " layers");
        }
    }

    /** A plain model (default RoPE, no extras) with one EOS id: llama2.c checkpoints and GPT-2. */
    public ModelConfig(Architecture architecture, int vocabSize, int hiddenSize, int intermediateSize, int numLayers,
            int numHeads, int numKvHeads, int headDim, int maxPositions, double ropeTheta, double normEps,
            boolean tiedEmbeddings, boolean attentionBias, int bosId, int eosId) {
        this(architecture, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim,
                maxPositions, Rope.plain(ropeTheta), normEps, tiedEmbeddings, attentionBias, bosId,
                eosId < 0 ? List.of() : List.of(eosId), BlockOptions.llama(numLayers, headDim));
    }

    /** The first EOS id, or -1. */
    public int eosId() {
        return eosIds.isEmpty() ? -1 : eosIds.get(0);
    }

    public double ropeTheta() {
        return rope.theta();
    }

    public ModelShape shape() {
        return new ModelShape(hiddenSize, numLayers);
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }
}

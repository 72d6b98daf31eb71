package dev.reftserver.model;

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
 * @param ropeTheta         RoPE base (Llama family)
 * @param normEps           RMSNorm / LayerNorm epsilon
 * @param tiedEmbeddings    whether the output layer reuses the token embedding
 * @param attentionBias     whether q/k/v projections carry a bias (Qwen2)
 * @param bosId             beginning-of-sequence id, or -1
 * @param eosId             end-of-sequence id, or -1
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
        double ropeTheta,
        double normEps,
        boolean tiedEmbeddings,
        boolean attentionBias,
        int bosId,
        int eosId) {

    /** The block layouts this runtime implements. */
    public enum Architecture {
        /** Llama, Mistral, Qwen2: RMSNorm, RoPE, SwiGLU, grouped-query attention. */
        LLAMA,
        /** GPT-2: LayerNorm, learned positions, gelu_new MLP, Conv1D weights. */
        GPT2
    }

    public ModelShape shape() {
        return new ModelShape(hiddenSize, numLayers);
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }
}

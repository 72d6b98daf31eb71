package dev.reftserver.training;

import dev.reftserver.model.ModelConfig;

/**
 * What one training update needs in memory, estimated from its shape before a job is accepted, so that a file of
 * long examples is refused with a 400 instead of exhausting the machine mid-job. The update keeps, for every block
 * from the first intervened one on (the blocks before it are a frozen prefix), each row's attention scores and
 * probabilities with their gradients (about 12 bytes per head and (query, key) pair) and the block's activations
 * (about 4 x (10 x hidden + 8 x intermediate) bytes per token). Fitted to the peak resident growth of one-example
 * jobs on the Qwen2.5-0.5B shape in float32 from layer 0: 3.29 GB at 506 tokens, 8.43 GB at 1,006 (the estimate
 * gives 3.36 and 8.70). With bfloat16 weights each product also keeps its input rounded to bfloat16 for the
 * backward: on the same shape served in bfloat16, 6 updates of 8 examples of 230 tokens from layer 12 took 5.25 GB
 * more anonymous memory at their peak against 5.06 in float32 (the float32 estimate: 5.08), so the estimate is 1.05
 * times the float32 one there.
 */
public final class TrainingMemory {

    private TrainingMemory() {
    }

    /**
     * @param firstLayer the first block an intervention follows
     * @param rows       examples in one update
     * @param tokens     the longest example (an update pads its rows to its longest)
     * @param bfloat16   the model's weights are bfloat16
     */
    public static long stepBytes(ModelConfig c, int firstLayer, int rows, int tokens, boolean bfloat16) {
        long layers = Math.max(1, c.numLayers() - firstLayer);
        long t = tokens;
        long perRow = (long) c.numHeads() * t * t * 12 + t * (10L * c.hiddenSize() + 8L * c.intermediateSize()) * 4;
        long bytes = layers * rows * perRow;
        return bfloat16 ? bytes + bytes / 20 : bytes;
    }
}

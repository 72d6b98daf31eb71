package dev.reftserver.training;

/**
 * How a run updates its interventions (HF Trainer's defaults, which pyreft's examples keep, where a job leaves a
 * value unset).
 *
 * @param learningRate peak learning rate of the linear schedule
 * @param weightDecay  AdamW's decoupled decay, on learned-source and projection matrices only (see {@link Parameter})
 * @param steps        number of updates
 * @param warmupSteps  linear warmup from 0 over this many updates, then linear decay to 0 at {@code steps}
 * @param maxGradNorm  clip the gradients' total L2 norm to this (0: no clipping)
 * @param batchSize    examples per update
 * @param shuffle      draw each epoch's order at random (from {@code seed}); otherwise file order
 */
public record TrainingSettings(double learningRate, double weightDecay, int steps, int warmupSteps,
        double maxGradNorm, int batchSize, boolean shuffle, long seed) {

    public TrainingSettings {
        if (!(learningRate > 0) || !Double.isFinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be positive, not " + learningRate);
        }
        if (!(weightDecay >= 0) || !Double.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be 0 or more, not " + weightDecay);
        }
        if (steps < 1 || warmupSteps < 0 || warmupSteps > steps || batchSize < 1 || !(maxGradNorm >= 0)) {
            throw new IllegalArgumentException("invalid steps " + steps + ", warmup " + warmupSteps + ", batch size "
                    + batchSize + " or max grad norm " + maxGradNorm);
        }
    }

    /**
     * The learning rate of update {@code k} (1-based): HF's {@code get_linear_schedule_with_warmup} at step k - 1.
     */
    public double learningRate(int k) {
        int current = k - 1;
        double factor;
        if (current < warmupSteps) {
            factor = (double) current / Math.max(1, warmupSteps);
        } else {
            factor = Math.max(0.0, (double) (steps - current) / Math.max(1, steps - warmupSteps));
        }
        return learningRate * factor;
    }
}

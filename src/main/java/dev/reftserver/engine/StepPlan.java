package dev.reftserver.engine;

import java.util.List;

/**
 * What one engine step does, decided by {@link StepPlanner#schedule} before any model work.
 *
 * @param retire  rows to finish now without running them: cancelled or timed out, waiting or running
 * @param prefill rows admitted this step, in the slots that follow the running rows, in this order
 * @param decode  running rows that go on to decode this step (the newcomers join them once their prefill ran)
 */
public record StepPlan(List<Retirement> retire, List<Generation> prefill, List<Generation> decode) {

    /** A row to finish, and why. */
    public record Retirement(Generation row, FinishReason reason) {
    }

    public boolean isEmpty() {
        return retire.isEmpty() && prefill.isEmpty() && decode.isEmpty();
    }
}

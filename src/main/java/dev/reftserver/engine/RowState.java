package dev.reftserver.engine;

/**
 * Where a row stands in the engine. A row only moves forward: WAITING, then PREFILLING once the planner admits it,
 * DECODING once its prefill has run, and FINISHED (from any state) when its finish reason is told, exactly once.
 */
public enum RowState {
    /** Queued at the door, not yet admitted. */
    WAITING,
    /** Admitted this step: its slot is reserved and its prompt is being run. */
    PREFILLING,
    /** In the running batch, one token per step. */
    DECODING,
    /** Done: its listener has had {@code onFinish} and its lease is released. */
    FINISHED
}

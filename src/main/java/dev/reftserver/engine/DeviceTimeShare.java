package dev.reftserver.engine;

import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * How the engine's time is split between serving and training, and the gate training passes before each step.
 * The scheduler reports how long each serving step took; training reports its steps. Both are kept as sums that
 * decay with a time constant of {@link #WINDOW_NANOS}, so the split describes the last few seconds.
 *
 * <p>Training may start a step when serving is idle (no serving step is running and none ended within
 * {@link #IDLE_NANOS}), or when
 * its recent share, training / (training + serving), is below {@code maxShare}. So under serving load training
 * takes about {@code maxShare} of the engine's time (a step may overshoot once; later steps wait it off), and all
 * of it when nobody is served. The two run on different threads, but their steps never overlap: a step holds the
 * device from {@link #servingStarts} to {@link #servingRan}, or from a granted {@link #awaitTrainingTurn} to
 * {@link #trainingRan}, so one model's weights are never read by a serving step and a training step at once, and a
 * serving step waits for at most one training step.
 */
public final class DeviceTimeShare {

    /** How fast old work stops counting: about the last two seconds weigh. */
    static final long WINDOW_NANOS = 2_000_000_000L;

    /** Serving counts as idle once this long has passed since its last step ended. */
    static final long IDLE_NANOS = 50_000_000L;

    /** How often a waiting training step looks again. */
    private static final long POLL_MILLIS = 5;

    private final double maxShare;
    private final LongSupplier clock;
    /** Held by the thread whose step is running; fair, so neither side can starve the other. */
    private final ReentrantLock device = new ReentrantLock(true);
    private double serving;
    private double training;
    private long updated;
    private long lastServingEnd = Long.MIN_VALUE;
    private boolean servedOnce;
    private boolean servingInStep;

    /** @param maxShare the fraction of engine time training may take while serving is busy, in [0, 1] */
    public DeviceTimeShare(double maxShare) {
        this(maxShare, System::nanoTime);
    }

    DeviceTimeShare(double maxShare, LongSupplier clock) {
        if (!(maxShare >= 0 && maxShare <= 1)) {
            throw new IllegalArgumentException("reft.training.max-share must be between 0 and 1, not " + maxShare);
        }
        this.maxShare = maxShare;
        this.clock = clock;
        this.updated = clock.getAsLong();
    }

    public double maxShare() {
        return maxShare;
    }

    /**
     * A serving step starts, once no training step runs: serving is busy until it ends, however long it takes. The
     * same thread must call {@link #servingRan} when the step ends, whatever happened in it.
     */
    public void servingStarts() {
        device.lock();
        synchronized (this) {
            servingInStep = true;
            servedOnce = true;
        }
    }

    /** A serving step that took {@code nanos} just ended. */
    public void servingRan(long nanos) {
        synchronized (this) {
            long now = decay();
            serving += nanos;
            lastServingEnd = now;
            servingInStep = false;
            servedOnce = true;
            notifyAll();
        }
        release();
    }

    /** A training step that took {@code nanos} just ended (after a granted {@link #awaitTrainingTurn}). */
    public void trainingRan(long nanos) {
        synchronized (this) {
            decay();
            training += nanos;
        }
        release();
    }

    /** Gives the device back if this thread holds it (a step reported without having taken it only counts time). */
    private void release() {
        if (device.isHeldByCurrentThread()) {
            device.unlock();
        }
    }

    /** Training's share of the recent engine time; 0 before anything ran. */
    public synchronized double trainingShare() {
        decay();
        double total = serving + training;
        return total == 0 ? 0 : training / total;
    }

    /** Whether a training step may start now. */
    public synchronized boolean trainingMayRun() {
        long now = decay();
        if (maxShare >= 1 || !servedOnce || (!servingInStep && now - lastServingEnd > IDLE_NANOS)) {
            return true;
        }
        double total = serving + training;
        return total == 0 || training / total < maxShare;
    }

    /**
     * Blocks until a training step may start, or {@code giveUp} says the step is no longer wanted (a cancelled
     * job must not sit here while serving stays busy).
     *
     * @return whether the step may start (false: given up); if true the device is held until {@link #trainingRan},
     *     which the same thread must call whatever happens in the step
     */
    public boolean awaitTrainingTurn(BooleanSupplier giveUp) throws InterruptedException {
        synchronized (this) {
            while (!trainingMayRun()) {
                if (giveUp.getAsBoolean()) {
                    return false;
                }
                wait(POLL_MILLIS);
            }
        }
        device.lockInterruptibly();
        return true;
    }

    private long decay() {
        long now = clock.getAsLong();
        long dt = now - updated;
        if (dt > 0) {
            double keep = Math.exp(-(double) dt / WINDOW_NANOS);
            serving *= keep;
            training *= keep;
            updated = now;
        }
        return now;
    }
}

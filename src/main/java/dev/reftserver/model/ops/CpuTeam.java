package dev.reftserver.model.ops;

import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;
import java.util.function.IntToLongFunction;

/**
 * The CPU cores one forward step runs on: part 0 of a split op on the calling thread, parts 1..n-1 on helper
 * threads. Architectures split attention by heads and the MLP by channels ({@link Linear}), so each core
 * streams its own slice of the weights: on CPU at batch 1 a projection is a matrix-vector product bound by memory
 * traffic, and libtorch's own kernel for it ({@code mm} with one row) runs on one core whatever its thread setting.
 *
 * <p>Between the ops of a step the helpers spin: the gaps are tens of microseconds, and waking a parked thread
 * takes from tens of microseconds to milliseconds on a virtual machine. After {@link #SPIN_NANOS} without work a
 * helper polls with yields, and after {@link #YIELD_NANOS} it parks. Only one thread at a time may run ops through
 * a team: the engine thread that owns the model.
 */
public final class CpuTeam implements AutoCloseable {

    /** How long an idle helper spins (covers the gaps between the ops of a step and between steps). */
    static final long SPIN_NANOS = 1_000_000;

    /** How long an idle helper then polls with yields, letting other threads run, before it parks. */
    static final long YIELD_NANOS = 10_000_000;

    private static final CpuTeam SOLO = new CpuTeam(0);

    private final Helper[] helpers;

    private CpuTeam(int helperCount) {
        helpers = new Helper[helperCount];
        for (int i = 0; i < helperCount; i++) {
            helpers[i] = new Helper(i + 1);
            helpers[i].start();
        }
    }

    /** A team of {@code size} threads (the caller and {@code size - 1} helpers); size 1 runs everything inline. */
    public static CpuTeam of(int size) {
        if (size < 1) {
            throw new IllegalArgumentException("a team needs at least one thread, not " + size);
        }
        return size == 1 ? SOLO : new CpuTeam(size - 1);
    }

    /** Threads in the team, the caller included. */
    public int size() {
        return helpers.length + 1;
    }

    /** Unparks idle helpers ahead of a step, so their wake-up overlaps the caller's first ops. */
    public void wake() {
        for (Helper h : helpers) {
            h.wake();
        }
    }

    /**
     * Runs {@code part.accept(i)} for i in [0, parts), part 0 on the caller and the others on helpers, and returns
     * once all have finished. A failure in any part is rethrown here (the first one; later ones are suppressed).
     */
    public void run(int parts, IntConsumer part) {
        if (parts < 1 || parts > size()) {
            throw new IllegalArgumentException(parts + " parts on a team of " + size());
        }
        for (int i = 1; i < parts; i++) {
            helpers[i - 1].submit(part);
        }
        Throwable failure = null;
        try {
            part.accept(0);
        } catch (Throwable t) {
            failure = t;
        }
        for (int i = 1; i < parts; i++) {
            Throwable t = helpers[i - 1].await();
            if (t != null) {
                if (failure == null) {
                    failure = t;
                } else {
                    failure.addSuppressed(t);
                }
            }
        }
        if (failure != null) {
            throw Jni.rethrow(failure);
        }
    }

    /**
     * {@link #run} for parts that each return a handle released from their own {@link NativeOps} scope: the handles
     * in part order, owned by {@code op} (also when a part fails, so none leaks).
     */
    public long[] runParts(NativeOps op, int parts, IntToLongFunction part) {
        long[] out = new long[parts];
        try {
            run(parts, p -> out[p] = part.applyAsLong(p));
        } finally {
            for (long h : out) {
                op.adopt(h);
            }
        }
        return out;
    }

    @Override
    public void close() {
        for (Helper h : helpers) {
            h.shutdown();
        }
    }

    private static final class Helper extends Thread {

        private final int index;
        private volatile IntConsumer task;
        private volatile boolean done = true;
        private volatile Throwable failure;
        private volatile boolean parked;
        private volatile boolean closed;

        Helper(int index) {
            super("reft-model-core-" + index);
            this.index = index;
            setDaemon(true);
        }

        void submit(IntConsumer t) {
            failure = null;
            done = false;
            task = t;
            if (parked) {
                LockSupport.unpark(this);
            }
        }

        void wake() {
            if (parked) {
                LockSupport.unpark(this);
            }
        }

        Throwable await() {
            long spins = 0;
            while (!done) {
                // Spin through a part's usual length; yield beyond it, in case the helper waits for this core.
                if (++spins < 20_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
            return failure;
        }

        void shutdown() {
            closed = true;
            LockSupport.unpark(this);
        }

        @Override
        public void run() {
            long lastWork = System.nanoTime();
            while (!closed) {
                IntConsumer t = task;
                if (t != null) {
                    task = null;
                    try {
                        t.accept(index);
                    } catch (Throwable e) {
                        failure = e;
                    }
                    done = true;
                    lastWork = System.nanoTime();
                } else if (System.nanoTime() - lastWork < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else if (System.nanoTime() - lastWork < YIELD_NANOS) {
                    Thread.yield();
                } else {
                    // Dekker-style hand-off with submit(): either this thread sees the task, or the submitter
                    // sees parked and unparks it (a permit left by an unpark makes the next park return at once).
                    parked = true;
                    if (task == null && !closed) {
                        LockSupport.park(this);
                    }
                    parked = false;
                    lastWork = System.nanoTime();
                }
            }
        }
    }
}

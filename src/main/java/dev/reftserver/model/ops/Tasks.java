package dev.reftserver.model.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** Independent native work (laying out a checkpoint's layers) spread over threads of its own. */
public final class Tasks {

    private Tasks() {
    }

    /**
     * Runs independent tasks on {@code threads} threads of their own, each task's libtorch ops on its own tensors
     * (libtorch's intra-op threads stay at 1 meanwhile: the tasks already fill the cores); the first failure is
     * rethrown after all have stopped.
     */
    public static void runAll(List<Runnable> tasks, int threads) {
        if (threads <= 1) {
            tasks.forEach(Runnable::run);
            return;
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "reft-load");
            t.setDaemon(true);
            return t;
        });
        List<Future<?>> running = new ArrayList<>();
        Throwable failure = null;
        try {
            for (Runnable task : tasks) {
                running.add(pool.submit(task));
            }
            for (Future<?> f : running) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause();
                        // tasks not started yet never start; running ones finish before the temporaries close
                        running.forEach(r -> r.cancel(false));
                    }
                } catch (CancellationException e) {
                    // not started after an earlier failure
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = new IllegalStateException("interrupted while loading weights", e);
            running.forEach(r -> r.cancel(false));
        } finally {
            pool.shutdown();
            boolean stopped = false;
            while (!stopped) {
                try {
                    stopped = pool.awaitTermination(1, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        if (failure != null) {
            throw Jni.rethrow(failure);
        }
    }
}

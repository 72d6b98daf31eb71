package dev.reftserver.engine;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.CausalLM;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelConfig;
import dev.reftserver.model.PositionLogits;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A real model with fault injection: the next prefill or decode can be made to throw a given {@link Throwable}
 * (after the model has run, as an out-of-memory in sampling would) or to block until released.
 */
public final class ControllableModel implements CausalLM {

    private final CausalLM model;
    public final AtomicReference<Throwable> failNextPrefill = new AtomicReference<>();
    public final AtomicReference<Throwable> failNextDecode = new AtomicReference<>();
    private volatile CountDownLatch prefillGate;
    public final CountDownLatch prefillEntered = new CountDownLatch(1);

    public ControllableModel(CausalLM model) {
        this.model = model;
    }

    /** Makes the next prefill wait (after {@link #prefillEntered}) until the returned latch is counted down. */
    public CountDownLatch holdNextPrefill() {
        CountDownLatch gate = new CountDownLatch(1);
        prefillGate = gate;
        return gate;
    }

    @Override
    public ModelConfig config() {
        return model.config();
    }

    @Override
    public Device device() {
        return model.device();
    }

    @Override
    public int cacheElementBytes() {
        return model.cacheElementBytes();
    }

    @Override
    public KvCache newCache(int rows, int maxTokens, long budgetTokens) {
        return model.newCache(rows, maxTokens, budgetTokens);
    }

    @Override
    public NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] logitsFrom) {
        holdIfAsked();
        NDArray logits = model.prefill(step, prompts, slots, cache, hook, logitsFrom);
        throwIfArmed(failNextPrefill);
        return logits;
    }

    @Override
    public NDArray prefill(NDManager step, int[][] prompts, int[] slots, KvCache cache, BlockHook hook,
            int[] logitsFrom, PositionLogits sink) {
        holdIfAsked();
        NDArray logits = model.prefill(step, prompts, slots, cache, hook, logitsFrom, sink);
        throwIfArmed(failNextPrefill);
        return logits;
    }

    private void holdIfAsked() {
        CountDownLatch gate = prefillGate;
        if (gate != null) {
            prefillGate = null;
            prefillEntered.countDown();
            try {
                gate.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public NDArray decode(NDManager step, int[] tokens, KvCache cache) {
        NDArray logits = model.decode(step, tokens, cache);
        throwIfArmed(failNextDecode);
        return logits;
    }

    private static void throwIfArmed(AtomicReference<Throwable> armed) {
        Throwable t = armed.getAndSet(null);
        if (t instanceof Error e) {
            throw e;
        }
        if (t instanceof RuntimeException e) {
            throw e;
        }
    }

    @Override
    public NDArray logitsAllPositions(NDManager step, int[] prompt) {
        return model.logitsAllPositions(step, prompt);
    }

    @Override
    public void close() {
        // the wrapped model is the test's to close
    }
}

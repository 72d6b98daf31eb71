package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The pointwise functions of a block on raw handles: RMSNorm without its weight, the MLP activations and
 * soft-capping. Their constants are 0-dim float32 arrays made once (in-place ops keep the dtype of the array they
 * update).
 */
public final class Elementwise {

    private final NDArray one;
    private final NDArray half;
    private final NDArray geluCubic;
    private final NDArray geluScale;
    private final NDArray minusHalf;
    private final NDArray eps;

    /** @param eps RMSNorm's epsilon */
    public Elementwise(NDManager manager, double eps) {
        this.one = manager.create(1f);
        this.half = manager.create(0.5f);
        this.geluCubic = manager.create(0.044715f);
        this.geluScale = manager.create((float) Math.sqrt(2 / Math.PI));
        this.minusHalf = manager.create(-0.5f);
        this.eps = manager.create((float) eps);
    }

    /** HF LlamaRMSNorm without its weight (folded into the next projection): x * rsqrt(mean(x^2) + eps). */
    public long rms(NativeOps op, long x) {
        long meanSquare = op.mean(op.mul(x, x), -1, true);
        op.addi(meanSquare, NativeOps.handle(eps));
        // pow(-0.5) is libtorch's rsqrt kernel.
        op.powi(meanSquare, NativeOps.handle(minusHalf));
        return op.mul(x, meanSquare);
    }

    /** silu(g) = sigmoid(g) * g, as a new array. */
    public long silu(NativeOps op, long g) {
        long act = op.sigmoid(g);
        op.muli(act, g);
        return act;
    }

    /**
     * GELU with the tanh approximation (torch's gelu(approximate="tanh"), GPT-2's gelu_new), as a new array:
     * 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))).
     */
    public long geluTanh(NativeOps op, long g) {
        long inner = op.mul(g, g);
        op.muli(inner, NativeOps.handle(geluCubic));
        op.addi(inner, NativeOps.handle(one));
        op.muli(inner, g);
        op.muli(inner, NativeOps.handle(geluScale));
        long act = op.tanh(inner);
        op.addi(act, NativeOps.handle(one));
        op.muli(act, NativeOps.handle(half));
        op.muli(act, g);
        return act;
    }

    /**
     * {@code cap * tanh(x / cap)} given 0-dim arrays of 1/cap and cap: x is scaled in place, the result is new.
     */
    public static long softcap(NativeOps op, long x, NDArray capInverse, NDArray cap) {
        op.muli(x, NativeOps.handle(capInverse));
        long capped = op.tanh(x);
        op.muli(capped, NativeOps.handle(cap));
        return capped;
    }
}

package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Contiguous ranges of one dimension as views, in one native call. {@code NDArray.get(NDIndex)} with an ellipsis or
 * more than one sliced dimension goes through libtorch's advanced indexing (five native calls and an index object
 * per use), which at a few microseconds each is a visible share of a batch-1 decode step.
 */
public final class Views {

    /** An end past any dimension's size: slices clamp it to the size, as Python's do. */
    public static final long TO_END = Long.MAX_VALUE;

    private Views() {
    }

    /** {@code x.narrow(dim, start, end - start)}: a view sharing x's storage, owned by x's manager. */
    public static NDArray slice(NDArray x, int dim, long start, long end) {
        return JniUtils.slice((PtNDArray) x, dim, start, end, 1);
    }

    /** As {@link #slice(NDArray, int, long, long)}, owned by {@code owner} (for views of long-lived arrays). */
    public static NDArray slice(NDManager owner, NDArray x, int dim, long start, long end) {
        NDArray view = slice(x, dim, start, end);
        view.attach(owner);
        return view;
    }
}

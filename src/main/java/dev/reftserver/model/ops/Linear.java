package dev.reftserver.model.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * A projection {@code x W (+ b)} with a float32 W stored input-major ([in, out]) and a bfloat16 one output-major
 * ([out, in], as checkpoints store it and oneDNN packs it), cut into the parts a {@link CpuTeam} computes
 * side by side, each part on its own core streaming its own slice of the weight. On CPU, libtorch's kernels for the
 * output-major layout ({@code linear}) stream a 32000 x 288 output layer at a third of the speed of this one at
 * batch 1 (about 8 against 25 GB/s); at large batches the two are equal.
 *
 * <p>A weight is cut either by output columns (part p computes its own columns of the output, e.g. the heads of an
 * attention part, the channels of an MLP part, a vocabulary slice of the output layer) or by input rows (part p
 * multiplies its own input columns by its rows of W, a partial sum the caller adds up; a bias is added once, by part
 * 0). With one part (on a GPU, or a one-core team) both are the plain product. The weights are float32 (or the
 * model's dtype) or bfloat16: a bfloat16 projection rounds its input to bfloat16, multiplies in bfloat16 and
 * returns float32 ({@link Bfloat16Cast}), which callers do not need to know.
 */
public final class Linear {

    /** How a weight is cut into parts. */
    public enum Cut {
        /** Part p holds output columns: its result is p's slice of the output. */
        COLUMNS,
        /** Part p holds input rows: its result is a partial sum over p's slice of the input. */
        ROWS
    }

    /**
     * Output columns per packed piece. oneDNN streams a packed 896 x 37,984 weight at about 24 GB/s on one thread of
     * this CPU but a 896 x 75,968 one (half of a 151,936-token output layer) at 14, so wide weights are packed in
     * pieces and their products joined.
     */
    static final int PACKED_COLUMNS = 32_768;

    private final Cut cut;
    private final long[] weights;
    /** [part][piece]: packed weights ({@link NativeOps#packBfloat16}) by output rows; null when not packed. */
    private final long[][] pieces;
    /** [part][piece]: each packed piece's first output column, and after the last piece its end; null unless packed. */
    private long[][] pieceStart;
    /** Some part has a bias. */
    private final boolean hasBias;
    private final long[] biases;
    /** The weights are bfloat16 as they are (on a GPU, where libtorch's own matmul is the fast one). */
    private final boolean bfloat16;
    /** The weights and biases as arrays, for {@link #trainingApply}; null where packed or bfloat16. */
    private NDArray[] arrays;
    private NDArray[] biasArrays;

    /**
     * @param weights  [part]: slices, input-major, or output-major where bfloat16 (held by their manager for the
     *                 projection's lifetime)
     * @param biases   [part] for {@link Cut#COLUMNS} (each part's slice), or one bias for {@link Cut#ROWS} (added by
     *                 part 0); null for none, and entries may be null
     * @param bfloat16 the weights are bfloat16 tensors (raw handles made by {@link NativeOps#bfloat16}), multiplied
     *                 as they are by libtorch's {@code linear} (on a GPU the fast one; on a CPU see {@link #packing})
     */
    public Linear(Cut cut, NDArray[] weights, NDArray[] biases, boolean bfloat16) {
        this(cut, weights.length, biases, bfloat16, false);
        for (int p = 0; p < weights.length; p++) {
            this.weights[p] = NativeOps.handle(weights[p]);
        }
        this.arrays = bfloat16 ? null : weights.clone();
        this.biasArrays = biases == null ? null : biases.clone();
    }

    /**
     * A bfloat16 projection on a CPU from raw bfloat16 weights [part] (output-major), which it consumes: each is
     * packed for oneDNN's AVX-512 BF16 kernels (about twice as fast at small batches as libtorch's bfloat16
     * {@code linear}) in the pieces of {@link #pieceBounds}, kept under the same manager, and closed.
     */
    public static Linear packing(Cut cut, NDArray[] weights, NDArray[] biases) {
        NDArray[][] pieces = new NDArray[weights.length][];
        for (int p = 0; p < weights.length; p++) {
            pieces[p] = pack(weights[p]);
            weights[p].close();
        }
        return ofPacked(cut, pieces, biases);
    }

    /**
     * A bfloat16 projection from weights already packed ({@link NativeOps#packBfloat16}, in the pieces of
     * {@link #pieceBounds}): {@code pieces[part]} holds a part's
     * pieces in order of their output rows, each owned by the model's manager.
     */
    public static Linear ofPacked(Cut cut, NDArray[][] pieces, NDArray[] biases) {
        Linear linear = new Linear(cut, pieces.length, biases, true, true);
        linear.pieceStart = new long[pieces.length][];
        long at = 0;
        for (int p = 0; p < pieces.length; p++) {
            linear.pieces[p] = handles(pieces[p]);
            linear.pieceStart[p] = new long[pieces[p].length + 1];
            for (int i = 0; i < pieces[p].length; i++) {
                linear.pieceStart[p][i] = at;
                at += NativeOps.sizes(linear.pieces[p][i])[0];
            }
            linear.pieceStart[p][pieces[p].length] = at;
        }
        return linear;
    }

    private Linear(Cut cut, int parts, NDArray[] biases, boolean bfloat16, boolean packed) {
        if (cut == Cut.ROWS && biases != null && biases.length > 1) {
            throw new IllegalArgumentException("a projection cut by input rows takes one bias, not " + biases.length);
        }
        this.cut = cut;
        this.weights = new long[parts];
        this.biases = new long[parts];
        this.pieces = packed ? new long[parts][] : null;
        for (int p = 0; p < parts && biases != null; p++) {
            if (p < biases.length && biases[p] != null) {
                this.biases[p] = NativeOps.handle(biases[p]);
            }
        }
        this.bfloat16 = bfloat16;
        boolean any = false;
        for (long b : this.biases) {
            any |= b != 0;
        }
        this.hasBias = any;
    }

    /**
     * The boundaries of the pieces a bfloat16 weight of {@code out} output rows is packed in: piece i holds rows
     * [b[i], b[i + 1]), at most {@link #PACKED_COLUMNS} of them.
     */
    public static long[] pieceBounds(long out) {
        int n = (int) Math.max(1, (out + PACKED_COLUMNS - 1) / PACKED_COLUMNS);
        long[] b = new long[n + 1];
        for (int i = 0; i <= n; i++) {
            b[i] = (out * i) / n;
        }
        return b;
    }

    /** The bfloat16 weight [out, in] packed in the pieces of {@link #pieceBounds}. */
    private static NDArray[] pack(NDArray weight) {
        long[] b = pieceBounds(weight.getShape().get(0));
        NDArray[] packed = new NDArray[b.length - 1];
        try (NativeOps op = new NativeOps()) {
            long w = NativeOps.handle(weight);
            for (int i = 0; i < packed.length; i++) {
                packed[i] = op.keep(op.packBfloat16(op.slice(w, 0, b[i], b[i + 1])), weight.getManager());
            }
        }
        return packed;
    }

    private static long[] handles(NDArray[] arrays) {
        long[] h = new long[arrays.length];
        for (int i = 0; i < h.length; i++) {
            h[i] = NativeOps.handle(arrays[i]);
        }
        return h;
    }

    /**
     * The input-major weight {@code w} [in, out] (row-major) and bias (or null) cut by output columns into
     * {@code parts} near-equal parts, each in {@code dtype} under {@code manager}.
     */
    public static Linear columns(NDManager manager, float[] w, float[] bias, int in, int out, int parts,
            DataType dtype) {
        int[] b = Split.ranges(out, parts);
        NDArray[] weights = new NDArray[parts];
        NDArray[] biases = new NDArray[parts];
        for (int p = 0; p < parts; p++) {
            weights[p] = load(manager, Split.columns(w, in, out, b[p], b[p + 1]), dtype, in, b[p + 1] - b[p]);
            biases[p] = bias == null ? null : load(manager, Split.range(bias, b[p], b[p + 1]), dtype, b[p + 1] - b[p]);
        }
        return new Linear(Cut.COLUMNS, weights, biases, false);
    }

    /** As {@link #columns}, cut by input rows; the bias (or null) is added once, by part 0. */
    public static Linear rows(NDManager manager, float[] w, float[] bias, int in, int out, int parts,
            DataType dtype) {
        int[] b = Split.ranges(in, parts);
        NDArray[] weights = new NDArray[parts];
        for (int p = 0; p < parts; p++) {
            weights[p] = load(manager, Split.rows(w, out, b[p], b[p + 1]), dtype, b[p + 1] - b[p], out);
        }
        NDArray[] biases = bias == null ? null : new NDArray[] {load(manager, bias, dtype, out)};
        return new Linear(Cut.ROWS, weights, biases, false);
    }

    private static NDArray load(NDManager manager, float[] data, DataType dtype, long... shape) {
        return manager.create(data, new Shape(shape)).toType(dtype, false);
    }

    public int parts() {
        return weights.length;
    }

    public Cut cut() {
        return cut;
    }

    /** Part {@code part}'s product {@code x [..., in_part] W_part (+ b_part)}, owned by {@code op}. */
    public long apply(NativeOps op, long x, int part) {
        long y;
        if (pieces != null) {
            long[] each = new long[pieces[part].length];
            for (int i = 0; i < each.length; i++) {
                each[i] = op.packedLinear(x, pieces[part][i]);
            }
            y = each.length == 1 ? each[0] : op.cat(each, -1);
        } else {
            y = bfloat16 ? op.linearBfloat16(x, weights[part]) : op.matmul(x, weights[part]);
        }
        if (biases[part] != 0) {
            op.addi(y, biases[part]);
        }
        return y;
    }

    /**
     * Part {@code part}'s product {@code x W_part (+ b_part)} as a differentiable function of x (training): plain
     * NDArray ops autograd follows, on the calling thread. For weights in the model's dtype only (not packed, not
     * bfloat16).
     */
    public NDArray trainingApply(NDArray x, int part) {
        if (arrays == null) {
            throw new IllegalStateException("a packed or bfloat16 projection has no differentiable product");
        }
        NDArray y = x.matMul(arrays[part]);
        NDArray bias = biasArrays == null || part >= biasArrays.length ? null : biasArrays[part];
        return bias == null ? y : y.add(bias);
    }

    /**
     * The whole projection of {@code x [..., in]} on {@code team}: for {@link Cut#COLUMNS} every part on its own
     * core, joined along the last dimension. For {@link Cut#ROWS} x is already the parts' inputs, so this is for
     * one-part weights only.
     */
    public long apply(NativeOps op, CpuTeam team, long x) {
        if (cut == Cut.COLUMNS && pieces != null && (weights.length > 1 || pieces[0].length > 1) && !hasBias) {
            return packedInto(op, team, x);
        }
        if (weights.length == 1) {
            return apply(op, x, 0);
        }
        if (cut != Cut.COLUMNS) {
            throw new IllegalStateException("a projection cut by input rows runs part by part");
        }
        return op.cat(team.runParts(op, weights.length, p -> {
            try (NativeOps part = new NativeOps()) {
                return part.release(apply(part, x, p));
            }
        }), -1);
    }

    /**
     * The whole product of packed pieces (an output layer: several parts, or pieces of a wide weight), each piece
     * converted straight into its columns of one float32 output by the part that computes it. Joining float32
     * products instead writes the output three times (each product, each part's join, the join of the parts, the
     * last on one core): at 16 rows of the 151,936-token Qwen2.5 output layer 9.7 MB each.
     */
    private long packedInto(NativeOps op, CpuTeam team, long x) {
        long[] shape = NativeOps.sizes(x);
        int last = shape.length - 1;
        long[] end = pieceStart[pieces.length - 1];
        shape[last] = end[end.length - 1];
        long out = op.emptyFloat32(shape);
        team.run(pieces.length, p -> {
            try (NativeOps part = new NativeOps()) {
                long[] at = pieceStart[p];
                for (int i = 0; i < pieces[p].length; i++) {
                    part.packedLinearInto(x, pieces[p][i], part.slice(out, last, at[i], at[i + 1]));
                }
            }
        });
        return out;
    }
}

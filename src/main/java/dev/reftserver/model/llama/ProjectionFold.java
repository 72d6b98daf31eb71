package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.InputMajor;
import dev.reftserver.model.checkpoint.InputMajor.Piece;
import dev.reftserver.model.checkpoint.OutputMajor;
import dev.reftserver.model.checkpoint.StoredRows;
import dev.reftserver.model.ops.Linear;
import dev.reftserver.model.ops.NativeOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One projection's parts as the block computes with them, from the checkpoint's output-major ([out, in]) matrices:
 * row ranges of one or more matrices fused (q/k/v, gate/up), or an input-column range (o_proj, down_proj: a part's
 * share of a sum), each value times a per-output scale (the attention scale on query rows) and a per-input one
 * (the RMSNorm weight before the projection), in that order, as float32 products.
 *
 * <p>float32 weights are laid out input-major ([in, out]), the layout libtorch's matmul streams fastest at small
 * batches ({@link InputMajor}); bfloat16 weights stay output-major, the layout oneDNN packs from and libtorch's
 * {@code linear} takes, scaled (if at all) in float32 and rounded to nearest even ({@link OutputMajor}; unscaled
 * bfloat16 rows are copied as stored). Both are written in one pass straight from the file's bytes. On a CPU a
 * bfloat16 projection is then packed for oneDNN ({@link Linear#ofPacked}) in pieces of at most
 * {@link Linear#pieceBounds} rows, each written into a reused buffer ({@link FoldBuffers}) and packed from there, so
 * the only new memory is the packed weight's.
 *
 * <p>One fold is for one thread: a matrix several parts read is opened once, until {@link #close}.
 */
final class ProjectionFold implements AutoCloseable {

    private final Checkpoint ckpt;
    private final Placement place;
    private final boolean bfloat16Weights;
    /** Temporaries, freed on close. */
    private final NDManager m;
    private final Map<String, StoredRows> rows = new HashMap<>();
    /** Where bfloat16 folds are packed (a CPU): the buffers to fold into; else null. */
    private final FoldBuffers buffers;
    private FoldBuffers.Buffer buffer;

    /**
     * @param buffers where bfloat16 weights are to be packed (on a CPU), the buffers to fold them into; else null
     */
    ProjectionFold(Checkpoint ckpt, Placement place, boolean bfloat16Weights, FoldBuffers buffers,
            NDManager temporaries) {
        this.ckpt = ckpt;
        this.place = place;
        this.bfloat16Weights = bfloat16Weights;
        this.buffers = bfloat16Weights ? buffers : null;
        this.m = temporaries.newSubManager();
    }

    /** Weights are packed: each part of a projection is its packed pieces. */
    boolean packs() {
        return buffers != null;
    }

    /** Output rows [from, from + count) of the matrix {@code name} [rows, cols]. */
    record Rows(String name, long rows, long from, long count) {
    }

    /**
     * The given row ranges fused in order into one projection of input width {@code cols}: each value times
     * {@code outScale} of its fused row (null: none) and {@code inScale} of its column (null: none). The result is
     * one array, or the packed pieces where {@link #packs}.
     */
    NDArray[] fused(NativeOps op, List<Rows> ranges, int cols, float[] outScale, float[] inScale) {
        List<Piece> pieces = new ArrayList<>();
        for (Rows r : ranges) {
            pieces.add(new Piece(rows(r.name(), r.rows(), cols), r.from(), r.count(), 0));
        }
        return laidOut(op, pieces, cols, outScale, inScale);
    }

    /** Input columns [from, from + count) of the matrix {@code name} [rows, cols], each row times outScale's. */
    NDArray[] columns(NativeOps op, String name, int rows, int cols, int from, int count, float[] outScale) {
        return laidOut(op, List.of(new Piece(rows(name, rows, cols), 0, rows, from)), count, outScale, null);
    }

    private NDArray[] laidOut(NativeOps op, List<Piece> pieces, int cols, float[] outScale, float[] inScale) {
        if (!bfloat16Weights) {
            return new NDArray[] {
                place.keep(op, NativeOps.handle(InputMajor.build(m, pieces, cols, outScale, inScale)), "F32")};
        }
        if (buffers == null) {
            return new NDArray[] {place.keep(op, OutputMajor.bfloat16(op, pieces, cols, outScale, inScale), "BF16")};
        }
        if (buffer == null) {
            buffer = buffers.take();
        }
        long[] b = Linear.pieceBounds(OutputMajor.rows(pieces));
        NDArray[] packed = new NDArray[b.length - 1];
        for (int i = 0; i < packed.length; i++) {
            long count = b[i + 1] - b[i];
            long flat = buffer.atLeast(count * cols);
            OutputMajor.write(op.bytes(flat), rowsOf(pieces, b[i], b[i + 1]), cols,
                    outScale == null ? null : Arrays.copyOfRange(outScale, (int) b[i], (int) b[i + 1]), inScale);
            long folded = op.reshape(op.slice(flat, 0, 0, count * cols), count, cols);
            packed[i] = place.keep(op, op.packBfloat16(folded), "BF16");
        }
        return packed;
    }

    /** Rows [from, to) of the pieces' rows taken together, as pieces. */
    static List<Piece> rowsOf(List<Piece> pieces, long from, long to) {
        List<Piece> out = new ArrayList<>();
        long at = 0;
        for (Piece p : pieces) {
            long lo = Math.max(from, at);
            long hi = Math.min(to, at + p.rows());
            if (lo < hi) {
                out.add(new Piece(p.source(), p.row() + lo - at, hi - lo, p.col()));
            }
            at += p.rows();
        }
        return out;
    }

    /** The parts' projection ({@code parts[p]}: part p's array, or its packed pieces where {@link #packs}). */
    Linear linear(Linear.Cut cut, NDArray[][] parts, NDArray[] biases) {
        return linear(cut, parts, biases, packs(), bfloat16Weights);
    }

    /** As {@link #linear(Linear.Cut, NDArray[][], NDArray[])}, for parts folded with {@code packed} as given. */
    static Linear linear(Linear.Cut cut, NDArray[][] parts, NDArray[] biases, boolean packed, boolean bfloat16) {
        return packed ? Linear.ofPacked(cut, parts, biases) : new Linear(cut, arrays(parts, false), biases, bfloat16);
    }

    /** Each part's array, or nulls where the parts are packed pieces. */
    static NDArray[] arrays(NDArray[][] parts, boolean packed) {
        NDArray[] whole = new NDArray[parts.length];
        for (int p = 0; p < parts.length && !packed; p++) {
            whole[p] = parts[p][0];
        }
        return whole;
    }

    private StoredRows rows(String name, long count, long cols) {
        StoredRows r = rows.get(name);
        if (r == null) {
            r = ckpt.requireRows(name, count, cols);
            rows.put(name, r);
        }
        return r;
    }

    /** Unmaps the matrices read and frees the temporaries; the results stay with the model's manager. */
    @Override
    public void close() {
        rows.values().forEach(StoredRows::close);
        m.close();
        if (buffer != null) {
            buffers.give(buffer);
            buffer = null;
        }
    }

    /** w * s as float32 products; s = 1 leaves w as it is (x * 1 is x). */
    static NDArray scaled(NDArray w, float s) {
        return s == 1f ? w : w.mul(s);
    }

    /** {@code scaled} times {@code scale}, then {@code ones} times 1: per-output scales of a fused projection. */
    static float[] columnScales(int scaled, int ones, float scale) {
        float[] s = new float[scaled + ones];
        java.util.Arrays.fill(s, 0, scaled, scale);
        java.util.Arrays.fill(s, scaled, s.length, 1f);
        return s;
    }
}

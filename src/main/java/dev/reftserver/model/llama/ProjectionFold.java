package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.InputMajor;
import dev.reftserver.model.checkpoint.InputMajor.Piece;
import dev.reftserver.model.checkpoint.OutputMajor;
import dev.reftserver.model.checkpoint.StoredRows;
import dev.reftserver.model.ops.NativeOps;
import java.util.ArrayList;
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
 * {@code linear} takes, folded in float32 and rounded to nearest even ({@link OutputMajor}). Both are written in one
 * pass straight from the file's bytes.
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

    ProjectionFold(Checkpoint ckpt, Placement place, boolean bfloat16Weights, NDManager temporaries) {
        this.ckpt = ckpt;
        this.place = place;
        this.bfloat16Weights = bfloat16Weights;
        this.m = temporaries.newSubManager();
    }

    /** Output rows [from, from + count) of the matrix {@code name} [rows, cols]. */
    record Rows(String name, long rows, long from, long count) {
    }

    /**
     * The given row ranges fused in order into one projection of input width {@code cols}: each value times
     * {@code outScale} of its fused row (null: none) and {@code inScale} of its column (null: none).
     */
    NDArray fused(NativeOps op, List<Rows> ranges, int cols, float[] outScale, float[] inScale) {
        List<Piece> pieces = new ArrayList<>();
        for (Rows r : ranges) {
            pieces.add(new Piece(rows(r.name(), r.rows(), cols), r.from(), r.count(), 0));
        }
        return laidOut(op, pieces, cols, outScale, inScale);
    }

    /** Input columns [from, from + count) of the matrix {@code name} [rows, cols], each row times outScale's. */
    NDArray columns(NativeOps op, String name, int rows, int cols, int from, int count, float[] outScale) {
        return laidOut(op, List.of(new Piece(rows(name, rows, cols), 0, rows, from)), count, outScale, null);
    }

    private NDArray laidOut(NativeOps op, List<Piece> pieces, int cols, float[] outScale, float[] inScale) {
        if (bfloat16Weights) {
            return place.keep(op, OutputMajor.bfloat16(op, pieces, cols, outScale, inScale), "BF16");
        }
        return place.keep(op, NativeOps.handle(InputMajor.build(m, pieces, cols, outScale, inScale)), "F32");
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

package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.InputMajor;
import dev.reftserver.model.checkpoint.InputMajor.Piece;
import dev.reftserver.model.checkpoint.StoredRows;
import dev.reftserver.model.checkpoint.StoredTensor;
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
 * batches, and are written straight from the file's bytes ({@link InputMajor}). bfloat16 weights stay output-major,
 * the layout oneDNN packs from and libtorch's {@code linear} takes: fused and folded by libtorch ops in float32, then
 * rounded to nearest even.
 *
 * <p>One fold is for one thread: a matrix several parts read is opened once, until {@link #close}.
 */
final class ProjectionFold implements AutoCloseable {

    private final Checkpoint ckpt;
    private final Placement place;
    private final boolean bfloat16Weights;
    /** Temporaries (stored tensors read whole), freed on close. */
    private final NDManager m;
    private final Map<String, StoredRows> rows = new HashMap<>();
    private final Map<String, StoredTensor> stored = new HashMap<>();

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
        if (!bfloat16Weights) {
            List<Piece> pieces = new ArrayList<>();
            for (Rows r : ranges) {
                pieces.add(new Piece(rows(r.name(), r.rows(), cols), r.from(), r.count(), 0));
            }
            return place.keep(op, NativeOps.handle(InputMajor.build(m, pieces, cols, outScale, inScale)), "F32");
        }
        long[] parts = new long[ranges.size()];
        long total = 0;
        for (int i = 0; i < parts.length; i++) {
            Rows r = ranges.get(i);
            long s = NativeOps.handle(stored(r.name(), r.rows(), cols).array());
            parts[i] = op.slice(s, 0, r.from(), r.from() + r.count());
            total += r.count();
        }
        long f = op.float32(parts.length == 1 ? parts[0] : op.cat(parts, 0));
        if (outScale != null) {
            op.muli(f, NativeOps.handle(m.create(outScale, new Shape(total, 1))));
        }
        if (inScale != null) {
            op.muli(f, NativeOps.handle(m.create(inScale, new Shape(1, cols))));
        }
        return place.keep(op, f, "F32");
    }

    /** Input columns [from, from + count) of the matrix {@code name} [rows, cols], as they are. */
    NDArray columns(NativeOps op, String name, int rows, int cols, int from, int count) {
        if (!bfloat16Weights) {
            Piece all = new Piece(rows(name, rows, cols), 0, rows, from);
            return place.keep(op, NativeOps.handle(InputMajor.build(m, List.of(all), count, null, null)), "F32");
        }
        StoredTensor s = stored(name, rows, cols);
        // A copy: the slice is a view of a temporary (and not contiguous); the copy is bfloat16 as stored.
        long part = op.copy(op.slice(NativeOps.handle(s.array()), 1, from, from + count));
        return place.keep(op, part, s.dtype());
    }

    private StoredRows rows(String name, long count, long cols) {
        StoredRows r = rows.get(name);
        if (r == null) {
            r = ckpt.requireRows(name, count, cols);
            rows.put(name, r);
        }
        return r;
    }

    private StoredTensor stored(String name, long count, long cols) {
        StoredTensor t = stored.get(name);
        if (t == null) {
            t = ckpt.requireStored(m, name, count, cols);
            stored.put(name, t);
        }
        return t;
    }

    /** Unmaps the matrices read and frees the temporaries; the results stay with the model's manager. */
    @Override
    public void close() {
        rows.values().forEach(StoredRows::close);
        m.close();
    }
}

package dev.reftserver.model.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Stored output-major matrices (HF's [out, in]) gathered, transposed to one input-major float32 matrix [in, out]
 * and scaled, in one pass from the stored bytes into a new native array: {@code out[i][j] = (w_j[i] * colScale[j])
 * * rowScale[i]}, where column j of the result is an output row of one of the pieces, in order. These are the
 * float32 products the fold has always computed (a widened value times the attention scale, then times the
 * RMSNorm weight), bit for bit. libtorch transposes a large matrix at about 1.4 ns an element on one core of this
 * CPU and every intermediate array costs page faults; this copies 64 x 64 blocks through the cache, and the only
 * memory it touches besides the file's pages is the result's.
 */
public final class InputMajor {

    /** Output rows [row, row + rows) and input columns [col, col + cols) of a stored matrix. */
    public record Piece(StoredRows source, long row, long rows, long col) {
    }

    private static final int BLOCK = 64;

    private InputMajor() {
    }

    /**
     * The pieces, each [rows, cols] of its source, as one float32 array [cols, sum of rows] of {@code manager} (a
     * CPU manager); {@code colScale} (one per result column) and {@code rowScale} (one per result row) may be null.
     * A result over 2 GiB is written in bands of rows (one buffer addresses at most 2 GiB) and joined.
     */
    public static NDArray build(NDManager manager, List<Piece> pieces, int cols, float[] colScale,
            float[] rowScale) {
        return build(manager, pieces, cols, colScale, rowScale, Integer.MAX_VALUE);
    }

    /** As {@link #build}, in bands of at most {@code bandBytes} bytes (at least one row each). */
    static NDArray build(NDManager manager, List<Piece> pieces, int cols, float[] colScale, float[] rowScale,
            long bandBytes) {
        long total = 0;
        for (Piece p : pieces) {
            total += p.rows();
        }
        int band = (int) Math.max(1, Math.min(cols, (bandBytes / Float.BYTES) / Math.max(1, total)));
        if (band >= cols) {
            return band(manager, pieces, 0, cols, (int) total, colScale, rowScale);
        }
        try (NDManager bands = manager.newSubManager()) {
            NDList parts = new NDList();
            for (int from = 0; from < cols; from += band) {
                parts.add(band(bands, pieces, from, Math.min(cols, from + band), (int) total, colScale, rowScale));
            }
            NDArray joined = NDArrays.concat(parts);
            joined.attach(manager);
            return joined;
        }
    }

    /** Rows [from, to) of the result. */
    private static NDArray band(NDManager manager, List<Piece> pieces, int from, int to, int total,
            float[] colScale, float[] rowScale) {
        NDArray result = manager.create(new Shape(to - from, total), DataType.FLOAT32);
        ByteBuffer bytes = ((PtNDArray) result).toByteBuffer(true);
        if (!bytes.isDirect()) {
            result.close();
            throw new IllegalStateException("no direct buffer on a new native array");
        }
        if ((long) (to - from) * total * Float.BYTES > bytes.capacity()) {
            result.close();
            throw new IllegalStateException("a new native array smaller than its shape");
        }
        write(RawMemory.address(bytes), total, pieces, from, to, colScale, rowScale);
        return result;
    }

    /**
     * Rows [from, to) of the result into {@code out} (its address; {@code total} values a row): for each 64 x 64
     * block of a piece, every value read once from the stored bytes and written once, the block's source rows
     * staying in the first-level cache while their columns are walked.
     */
    private static void write(long out, int total, List<Piece> pieces, int from, int to, float[] colScale,
            float[] rowScale) {
        long[] rowAt = new long[BLOCK];
        int j0 = 0;
        for (Piece p : pieces) {
            StoredRows src = p.source();
            check(p, to - from);
            int kind = kind(src.dtype());
            int width = kind == 0 ? 4 : 2;
            for (long rb = 0; rb < p.rows(); rb += BLOCK) {
                int nr = (int) Math.min(BLOCK, p.rows() - rb);
                for (int r = 0; r < nr; r++) {
                    rowAt[r] = src.address(p.row() + rb + r) + (long) p.col() * width;
                }
                long column = j0 + rb;
                for (int cb = from; cb < to; cb += BLOCK) {
                    int nc = Math.min(BLOCK, to - cb);
                    for (int c = cb; c < cb + nc; c++) {
                        long at = out + ((long) (c - from) * total + column) * Float.BYTES;
                        long offset = (long) c * width;
                        float g = rowScale == null ? 1f : rowScale[c];
                        for (int r = 0; r < nr; r++) {
                            float v = widened(kind, rowAt[r] + offset);
                            if (colScale != null) {
                                v *= colScale[(int) column + r];
                            }
                            if (rowScale != null) {
                                v *= g;
                            }
                            RawMemory.putFloat(at + (long) r * Float.BYTES, v);
                        }
                    }
                }
            }
            j0 += (int) p.rows();
        }
    }

    /** Refuses a piece that reaches outside its matrix ({@code cols} columns from its first). */
    static void check(Piece p, long cols) {
        StoredRows src = p.source();
        if (p.col() < 0 || p.col() + cols > src.cols() || p.row() < 0 || p.row() + p.rows() > src.rows()) {
            throw new IndexOutOfBoundsException("a piece outside its " + src.rows() + " x " + src.cols() + " matrix");
        }
    }

    /** 0, 1, 2 for values stored as F32, BF16, F16. */
    static int kind(String dtype) {
        return switch (dtype) {
            case "F32" -> 0;
            case "BF16" -> 1;
            case "F16" -> 2;
            default -> throw new IllegalArgumentException("stored dtype " + dtype);
        };
    }

    /** The value at {@code address}, stored as {@code kind}, widened exactly to float32. */
    static float widened(int kind, long address) {
        return switch (kind) {
            case 0 -> RawMemory.getFloat(address);
            case 1 -> Float.intBitsToFloat((RawMemory.getShort(address) & 0xffff) << 16);
            default -> Safetensors.halfToFloat(RawMemory.getShort(address));
        };
    }
}

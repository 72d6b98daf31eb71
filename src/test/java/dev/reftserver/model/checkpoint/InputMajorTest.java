package dev.reftserver.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.checkpoint.InputMajor.Piece;
import dev.reftserver.model.ops.NativeOps;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link InputMajor} writes, from the stored bytes, exactly the float32 values a fold in Java computes: row ranges
 * of several matrices fused and transposed, an input-column range, the per-output and per-input scales applied in
 * that order, for F32, F16 and BF16 files read through maps of a few rows (several maps per matrix) or held in
 * memory, and in bands when a result is larger than one buffer; and {@link OutputMajor}'s bfloat16 rows, rounded as
 * libtorch rounds.
 */
class InputMajorTest {

    private static final int A_ROWS = 70;
    private static final int B_ROWS = 131;
    private static final int COLS = 77;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @CsvSource({"F32, true, 100000", "F16, true, 100000", "BF16, true, 100000", "BF16, true, 1000",
            "BF16, false, 100000", "F16, false, 300"})
    void fusesTransposesAndScalesAsJavaDoes(String dtype, boolean file, int window) throws IOException {
        Random rnd = new Random(7);
        float[] a = values(rnd, A_ROWS * COLS);
        float[] b = values(rnd, B_ROWS * COLS);
        Safetensors st = open(safetensors(dtype, a, b), file, window);
        // What the file holds, as the Java reader widens it.
        float[] wa = st.read("a").data();
        float[] wb = st.read("b").data();
        float[] outScale = values(rnd, 20 + 50);
        float[] inScale = values(rnd, COLS);
        try (NDManager m = NDManager.newBaseManager(); StoredRows ra = st.rows("a"); StoredRows rb = st.rows("b")) {
            // Rows [5, 25) of a, then rows [60, 110) of b: a [77, 70] result.
            List<Piece> pieces = List.of(new Piece(ra, 5, 20, 0), new Piece(rb, 60, 50, 0));
            float[] want = new float[COLS * 70];
            for (int i = 0; i < COLS; i++) {
                for (int j = 0; j < 70; j++) {
                    float w = j < 20 ? wa[(5 + j) * COLS + i] : wb[(60 + j - 20) * COLS + i];
                    want[i * 70 + j] = (w * outScale[j]) * inScale[i];
                }
            }
            NDArray got = InputMajor.build(m, pieces, COLS, outScale, inScale);
            assertThat(got.getShape().getShape()).containsExactly(COLS, 70);
            assertThat(bits(got.toFloatArray())).containsExactly(bits(want));
            // In bands of three rows (a result over one buffer's 2 GiB is written so): the same values.
            NDArray banded = InputMajor.build(m, pieces, COLS, outScale, inScale, 3L * 70 * Float.BYTES);
            assertThat(bits(banded.toFloatArray())).containsExactly(bits(want));

            // Input columns [30, 47) of b, all rows, unscaled: b's [131, 17] slice transposed.
            NDArray cols = InputMajor.build(m, List.of(new Piece(rb, 0, B_ROWS, 30)), 17, null, null);
            float[] wantCols = new float[17 * B_ROWS];
            for (int i = 0; i < 17; i++) {
                for (int j = 0; j < B_ROWS; j++) {
                    wantCols[i * B_ROWS + j] = wb[j * COLS + 30 + i];
                }
            }
            assertThat(bits(cols.toFloatArray())).containsExactly(bits(wantCols));
        }
    }

    @ParameterizedTest
    @CsvSource({"F32, true", "F16, true", "BF16, true", "BF16, false"})
    void outputMajorBfloat16IsTheFoldRoundedToNearestEven(String dtype, boolean file) throws IOException {
        Random rnd = new Random(11);
        float[] a = values(rnd, A_ROWS * COLS);
        float[] b = values(rnd, B_ROWS * COLS);
        Safetensors st = open(safetensors(dtype, a, b), file, 2000);
        float[] wa = st.read("a").data();
        float[] wb = st.read("b").data();
        float[] outScale = values(rnd, 3 + 4);
        float[] inScale = values(rnd, 30);
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps();
                StoredRows ra = st.rows("a"); StoredRows rb = st.rows("b")) {
            // Rows [2, 5) of a and [100, 104) of b, input columns [40, 70): a [7, 30] result.
            long h = OutputMajor.bfloat16(op, List.of(new Piece(ra, 2, 3, 40), new Piece(rb, 100, 4, 40)), 30,
                    outScale, inScale);
            float[] got = op.keep(op.float32(h), m).toFloatArray();
            float[] want = new float[7 * 30];
            for (int j = 0; j < 7; j++) {
                for (int i = 0; i < 30; i++) {
                    float w = j < 3 ? wa[(2 + j) * COLS + 40 + i] : wb[(100 + j - 3) * COLS + 40 + i];
                    want[j * 30 + i] = (w * outScale[j]) * inScale[i];
                }
            }
            // libtorch's own rounding of the same float32 values is the reference
            float[] rounded = op.keep(op.float32(op.bfloat16(NativeOps.handle(m.create(want)))), m).toFloatArray();
            assertThat(bits(got)).containsExactly(bits(rounded));
        }
    }

    @Test
    void roundingMatchesLibtorchOnTiesAndSpecialValues() {
        float[] v = {Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000), Float.intBitsToFloat(0x3f80ffff),
                -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, Float.MIN_VALUE,
                -Float.MIN_NORMAL, 1e-40f};
        try (NDManager m = NDManager.newBaseManager(); NativeOps op = new NativeOps()) {
            float[] libtorch = op.keep(op.float32(op.bfloat16(NativeOps.handle(m.create(v)))), m).toFloatArray();
            for (int i = 0; i < v.length; i++) {
                float mine = Float.intBitsToFloat((OutputMajor.rounded(v[i]) & 0xffff) << 16);
                if (Float.isNaN(v[i])) {
                    // a NaN stays a NaN (libtorch's vectorised conversion gives 0xffff, its scalar one 0x7fc0)
                    assertThat(mine).isNaN();
                    assertThat(libtorch[i]).isNaN();
                    continue;
                }
                assertThat(Float.floatToRawIntBits(mine)).as("%s", v[i])
                        .isEqualTo(Float.floatToRawIntBits(libtorch[i]));
            }
        }
    }

    @Test
    void rowsInMemoryAndSlicesReadTheSameValues() {
        float[] v = values(new Random(3), 9 * 4);
        try (NDManager m = NDManager.newBaseManager();
                StoredRows rows = StoredRows.slice(StoredRows.of(v, 9, 4), 2, 6)) {
            NDArray got = InputMajor.build(m, List.of(new Piece(rows, 1, 5, 1)), 3, null, null);
            float[] want = new float[3 * 5];
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 5; j++) {
                    want[i * 5 + j] = v[(3 + j) * 4 + 1 + i];
                }
            }
            assertThat(got.toFloatArray()).containsExactly(want);
        }
    }

    @Test
    void aPieceOutsideItsMatrixIsRefused() {
        try (NDManager m = NDManager.newBaseManager(); StoredRows rows = StoredRows.of(new float[12], 3, 4)) {
            assertThatThrownBy(() -> InputMajor.build(m, List.of(new Piece(rows, 2, 2, 0)), 4, null, null))
                    .isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> InputMajor.build(m, List.of(new Piece(rows, 0, 3, 1)), 4, null, null))
                    .isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    /** The file's bytes read through maps of at most {@code window} bytes, or held in memory. */
    private Safetensors open(byte[] bytes, boolean file, int window) throws IOException {
        if (!file) {
            return Safetensors.of(bytes, "test");
        }
        Path f = Files.createTempFile(tmp, "m", ".safetensors");
        Files.write(f, bytes);
        return Safetensors.open(f, window);
    }

    /** Values of every magnitude a checkpoint has, with signed zeros, subnormals and the odd exact integer. */
    private static float[] values(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = switch (i % 11) {
                case 0 -> -0f;
                case 1 -> 1e-6f * (float) rnd.nextGaussian();
                case 2 -> 3f;
                default -> (float) rnd.nextGaussian() * (1 + i % 5);
            };
        }
        return v;
    }

    /** A safetensors file with matrices "a" [A_ROWS, COLS] and "b" [B_ROWS, COLS] stored as {@code dtype}. */
    private static byte[] safetensors(String dtype, float[] a, float[] b) {
        int width = dtype.equals("F32") ? 4 : 2;
        long aBytes = (long) a.length * width;
        String json = "{\"a\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + A_ROWS + "," + COLS
                + "],\"data_offsets\":[0," + aBytes + "]},\"b\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + B_ROWS
                + "," + COLS + "],\"data_offsets\":[" + aBytes + "," + (aBytes + (long) b.length * width) + "]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + header.length + (a.length + b.length) * width)
                .order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header);
        for (float[] m : List.of(a, b)) {
            for (float f : m) {
                switch (dtype) {
                    case "F32" -> out.putFloat(f);
                    case "F16" -> out.putShort(Halves.truncated(f));
                    default -> out.putShort((short) (Float.floatToIntBits(f) >>> 16));
                }
            }
        }
        return out.array();
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = Float.floatToRawIntBits(v[i]);
        }
        return b;
    }
}

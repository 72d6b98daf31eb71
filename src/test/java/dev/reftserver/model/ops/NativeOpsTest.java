package dev.reftserver.model.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.norm.LayerNorm;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every raw-handle op gives what DJL's own NDArray op gives on the same inputs: both reach the same libtorch kernels,
 * so the float32 results are equal to the bit; the bfloat16 ops are checked on values whose products and sums are
 * exact in bfloat16, against DJL's float32 op on the same (rounded) values.
 */
class NativeOpsTest {

    private NDManager m;
    private NativeOps op;
    private NDArray a;
    private NDArray b;

    @BeforeEach
    void setUp() {
        m = NDManager.newBaseManager();
        m.getEngine().setRandomSeed(7);
        op = new NativeOps();
        a = m.randomUniform(-2, 2, new Shape(2, 3, 4));
        b = m.randomUniform(-2, 2, new Shape(2, 3, 4));
    }

    @AfterEach
    void tearDown() {
        op.close();
        m.close();
    }

    private static long h(NDArray x) {
        return NativeOps.handle(x);
    }

    /** The op's result as an NDArray of the test's manager. */
    private NDArray got(long handle) {
        return op.keep(handle, m);
    }

    private static void assertSame(NDArray actual, NDArray expected) {
        assertThat(actual.getShape()).isEqualTo(expected.getShape());
        assertThat(actual.toFloatArray()).containsExactly(expected.toFloatArray());
    }

    @Test
    void matmulMultipliesAsDjlDoes() {
        NDArray w = m.randomUniform(-1, 1, new Shape(4, 5));
        assertSame(got(op.matmul(h(a), h(w))), a.matMul(w));
    }

    @Test
    void arithmeticMatchesDjlInAndOutOfPlace() {
        assertSame(got(op.mul(h(a), h(b))), a.mul(b));
        assertSame(got(op.add(h(a), h(b))), a.add(b));
        NDArray x = a.duplicate();
        op.muli(h(x), h(b));
        assertSame(x, a.mul(b));
        NDArray y = a.duplicate();
        op.addi(h(y), h(b));
        assertSame(y, a.add(b));
        NDArray z = a.abs().add(0.5f);
        NDArray expected = z.pow(-0.5f);
        op.powi(h(z), h(m.create(-0.5f)));
        assertSame(z, expected);
        assertSame(got(op.sum(h(a), new long[] {h(b), h(a)})), a.add(b).add(a));
    }

    @Test
    void rowArgmaxIsArgmaxWithTiesToTheFirstAndNanAsLargest() {
        NDArray r = m.randomNormal(new Shape(5, 1000));
        assertThat(got(op.rowArgmax(h(r))).toLongArray()).containsExactly(r.argMax(1).toLongArray());
        float[] v = {1, 3, 3, 0, // tie: the first
            -1, Float.NaN, 2, Float.NaN, // NaN: the first NaN
            5, 5, 5, 5,
            Float.NEGATIVE_INFINITY, -2, Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY};
        NDArray t = m.create(v, new Shape(4, 4));
        assertThat(got(op.rowArgmax(h(t))).toLongArray()).containsExactly(1, 1, 0, 2)
                .containsExactly(t.argMax(1).toLongArray());
    }

    @Test
    void reductionsAndActivationsMatchDjl() {
        assertSame(got(op.mean(h(a), -1, true)), a.mean(new int[] {-1}, true));
        assertSame(got(op.sigmoid(h(a))), Activation.sigmoid(a));
        assertSame(got(op.tanh(h(a))), a.tanh());
        assertSame(got(op.softmax(h(a), -1, DataType.FLOAT32)), a.softmax(-1));
        NDArray w = m.randomUniform(0.5f, 1.5f, new Shape(4));
        NDArray bias = m.randomUniform(-1, 1, new Shape(4));
        assertSame(got(op.layerNorm(h(a), 4, h(w), h(bias), 1e-5)),
                LayerNorm.layerNorm(a, new Shape(4), w, bias, 1e-5f).singletonOrThrow());
    }

    @Test
    void viewsAndLayoutsMatchDjl() {
        assertSame(got(op.reshape(h(a), 6, 4)), a.reshape(6, 4));
        assertSame(got(op.slice(h(a), 1, 1, 3)), a.get(new NDIndex(":, 1:3")));
        assertSame(got(op.slice(h(a), 2, 2, Views.TO_END)), a.get(new NDIndex(":, :, 2:")));
        assertSame(got(op.permute(h(a), 0, 2, 1)), a.transpose(0, 2, 1));
        assertSame(got(op.cat(new long[] {h(a), h(b)}, 1)), NDArrays.concat(new NDList(a, b), 1));
    }

    @Test
    void writesMatchDjlSet() {
        NDArray value = m.randomUniform(-1, 1, new Shape(1, 2, 4));
        NDArray x = a.duplicate();
        op.put(h(x), h(value), new long[] {1, 1, 0}, new long[] {2, 3, 4}, new long[] {1, 1, 1});
        NDArray expected = a.duplicate();
        expected.set(new NDIndex("1:2, 1:3, 0:4"), value);
        assertSame(x, expected);

        NDArray flat = a.duplicate().reshape(-1);
        NDArray index = m.create(new long[] {5, 0, 23});
        NDArray values = m.create(new float[] {1f, 2f, 3f});
        op.set(h(flat), h(index), h(values));
        NDArray flatExpected = a.duplicate().reshape(-1);
        flatExpected.set(new NDIndex("{}", index), values);
        assertSame(flat, flatExpected);
    }

    @Test
    void takeGathersRowsAsDjlIndexing() {
        NDArray table = m.randomUniform(-1, 1, new Shape(6, 4));
        NDArray ids = m.create(new long[] {4, 0, 4, 5});
        assertSame(got(op.take(h(table), h(ids))), table.get(new NDIndex("{}", ids)));
    }

    @Test
    void bfloat16OpsMatchFloat32OnExactValues() {
        // Small integers: exact in bfloat16 (8 significant bits), and so are their products and sums of eight.
        NDArray x = m.randomInteger(-3, 4, new Shape(3, 8), DataType.INT32).toType(DataType.FLOAT32, false);
        NDArray w = m.randomInteger(-3, 4, new Shape(8, 5), DataType.INT32).toType(DataType.FLOAT32, false);
        long w16 = op.bfloat16(h(w));
        assertSame(got(op.float32(w16)), w);
        // Projections take bfloat16 weights output-major, [out, in], as checkpoints store them.
        w16 = op.bfloat16(h(w.transpose().duplicate()));
        assertSame(got(op.linearBfloat16(h(x), w16)), x.matMul(w));
        // Several weights: the products side by side.
        NDArray w2 = m.randomInteger(-3, 4, new Shape(8, 3), DataType.INT32).toType(DataType.FLOAT32, false);
        long w2x16 = op.bfloat16(h(w2.transpose().duplicate()));
        assertSame(got(op.linearBfloat16(h(x), w16, w2x16)), x.matMul(w.concat(w2, 1)));
        assertSame(got(op.linearBfloat16(h(x), w2x16, w16, w2x16)), x.matMul(w2.concat(w, 1).concat(w2, 1)));
        assertSame(got(op.packedLinear(h(x), op.packBfloat16(w16))), x.matMul(w));
        assertSame(got(op.packedLinear(h(x.reshape(1, -1, 8)), op.packBfloat16(w16))), x.matMul(w).reshape(1, -1, 5));
        NDArray ids = m.create(new long[] {7, 2, 2});
        assertSame(got(op.rowsBfloat16(op.bfloat16(h(x.transpose())), h(ids))),
                x.transpose().get(new NDIndex("{}", ids)));
    }
}

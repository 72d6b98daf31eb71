package dev.reftserver.training;

/**
 * One trainable tensor with its AdamW state (m, v), all fp32 on the Java heap: intervention parameters are a few
 * thousand values, so the optimizer runs here, not on the device.
 *
 * @param decays whether AdamW's decoupled weight decay applies (pyreft's trainer decays no intervention tensor;
 *               when weight decay is set here, only the learned-source and projection matrices take it: decaying
 *               the parametrization's X would zero its diagonal and with it the rotation, and biases are excluded
 *               as HF's trainer excludes them)
 */
record Parameter(String name, int[] shape, float[] value, float[] m, float[] v, boolean decays) {

    static Parameter of(String name, int[] shape, float[] value, boolean decays) {
        return new Parameter(name, shape.clone(), value.clone(), new float[value.length], new float[value.length],
                decays);
    }

    long[] longShape() {
        long[] s = new long[shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = shape[i];
        }
        return s;
    }
}

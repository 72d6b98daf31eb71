package dev.reftserver.model;

import ai.djl.ndarray.NDArray;

/**
 * An architecture that passes embed, blocks and head to another, for tests that watch or withhold part of it: it
 * has no differentiable forward of its own (the interface's default), and a subclass may override any call.
 */
class DelegatingArchitecture implements Architecture {

    private final Architecture arch;

    DelegatingArchitecture(Architecture arch) {
        this.arch = arch;
    }

    @Override
    public ModelConfig config() {
        return arch.config();
    }

    @Override
    public NDArray embed(long[] ids, StepBatch batch) {
        return arch.embed(ids, batch);
    }

    @Override
    public NDArray block(int layer, NDArray x, StepBatch batch, KvCache cache) {
        return arch.block(layer, x, batch, cache);
    }

    @Override
    public NDArray head(NDArray x) {
        return arch.head(x);
    }

    @Override
    public void close() {
        arch.close();
    }
}

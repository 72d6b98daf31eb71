package dev.reftserver.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.llama.LlamaArchitecture;
import dev.reftserver.model.ops.CpuTeam;
import java.nio.file.Path;

/** Models in forms {@link ModelLoader} does not make on a CPU, for tests. */
public final class TestModels {

    private TestModels() {
    }

    /**
     * The Llama-family model in {@code dir} with bfloat16 weights laid out as on a GPU (plain bfloat16 arrays,
     * multiplied by libtorch's {@code linear}, not packed for oneDNN), on {@code threads} threads.
     */
    public static TransformerLM unpackedBfloat16(Path dir, int threads) {
        Checkpoint ckpt = ModelLoader.read(dir);
        NDManager manager = NDManager.newBaseManager();
        CpuTeam team = CpuTeam.of(threads);
        Architecture arch = new LlamaArchitecture(manager.newSubManager(), ckpt, DataType.FLOAT32, team, true, false);
        return new TransformerLM(manager, arch, DataType.FLOAT32, "bfloat16", team);
    }

    /**
     * The Llama-family model in {@code dir}, in float32 on one thread, without its differentiable forward: a
     * stand-in for a model that cannot be trained, for tests of how a job is refused (every architecture served has
     * one).
     */
    public static TransformerLM untrainable(Path dir) {
        Checkpoint ckpt = ModelLoader.read(dir);
        NDManager manager = NDManager.newBaseManager();
        Architecture arch = new LlamaArchitecture(manager.newSubManager(), ckpt, DataType.FLOAT32, CpuTeam.of(1));
        Architecture refusing = new DelegatingArchitecture(arch);
        return new TransformerLM(manager, refusing, DataType.FLOAT32, "float32", CpuTeam.of(1));
    }
}

package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.HfCheckpointReader;
import dev.reftserver.model.checkpoint.Llama2cReader;
import dev.reftserver.model.gpt2.Gpt2Architecture;
import dev.reftserver.model.llama.LlamaArchitecture;
import dev.reftserver.model.ops.CpuTeam;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Loads a checkpoint (llama2.c {@code .bin} or a Hugging Face directory) onto a device as a {@link CausalLM}. */
public final class ModelLoader {

    private static final Logger LOG = LoggerFactory.getLogger(ModelLoader.class);

    private ModelLoader() {
    }

    /** As {@link #load(Path, String, String, int)} on every core of a CPU. */
    public static TransformerLM load(Path path, String device, String dtype) {
        return load(path, device, dtype, 0);
    }

    /**
     * @param path    a llama2.c {@code .bin} file or a Hugging Face model directory
     * @param device  {@code cpu}, {@code gpu} or {@code gpu:N}
     * @param dtype   {@code auto} (the checkpoint's dtype where the device computes it well: {@link AutoDtype}),
     *                {@code float32}, {@code bfloat16} (Llama
     *                family: embedding and projections kept in bfloat16, the rest in float32), or {@code float16}
     *                on a GPU
     * @param threads on a CPU, the cores one forward step runs on (0: all available); ignored on a GPU. The model
     *                splits each block across them itself ({@link CpuTeam}) and sets libtorch's intra-op threads,
     *                a process-wide setting, to 1 so the two do not compete for cores.
     */
    public static TransformerLM load(Path path, String device, String dtype, int threads) {
        if (threads < 0) {
            throw new CheckpointException("threads must be 0 (all cores) or more, not " + threads);
        }
        long start = System.nanoTime();
        Device dev = parseDevice(device);
        Checkpoint ckpt = read(path);
        if (dtype != null && dtype.trim().equalsIgnoreCase("auto")) {
            AutoDtype.Choice auto = AutoDtype.resolve(path, ckpt.config(), dev);
            LOG.info("reft.model.dtype auto: {} ({})", auto.dtype(), auto.reason());
            dtype = auto.dtype();
        }
        boolean bf16 = isBfloat16(dtype);
        DataType dt = bf16 ? DataType.FLOAT32 : parseDtype(dtype, dev);
        if (bf16 && ckpt.config().architecture() != ModelConfig.Architecture.LLAMA) {
            throw new CheckpointException("reft.model.dtype bfloat16 is supported for the Llama family only, not "
                    + ckpt.config().architecture() + "; use float32");
        }
        NDManager manager = NDManager.newBaseManager(dev);
        CpuTeam team = CpuTeam.of(1);
        try {
            if (!dev.isGpu()) {
                JniUtils.setNumThreads(1);
                team = CpuTeam.of(threads == 0 ? Runtime.getRuntime().availableProcessors() : threads);
            }
            CpuTeam t = team;
            Architecture arch = switch (ckpt.config().architecture()) {
                case LLAMA -> new LlamaArchitecture(manager.newSubManager(), ckpt, dt, t, bf16);
                case GPT2 -> new Gpt2Architecture(manager.newSubManager(), ckpt, dt, t);
            };
            String weightDtype = bf16 ? "bfloat16" : dt.toString().toLowerCase();
            TransformerLM model = new TransformerLM(manager, arch, dt, weightDtype, team);
            List<String> unread = ckpt.unread();
            if (!unread.isEmpty()) {
                // transformers warns the same way about checkpoint keys its model class has no place for
                LOG.warn("{}: {} tensor(s) of the checkpoint are not used by this runtime's {} model ({}{}); its"
                        + " outputs can differ from the checkpoint's own", path, unread.size(),
                        ckpt.config().architecture(), String.join(", ", unread.subList(0, Math.min(5, unread.size()))),
                        unread.size() > 5 ? ", ..." : "");
            }
            long parameters = parameters(ckpt);
            LOG.info("Loaded {} ({}, {}): {} parameters, {} weight bytes, in {} s", path,
                    ckpt.config().architecture(), weightDtype, parameters,
                    parameters * (bf16 ? 2 : dt.getNumOfBytes()),
                    String.format(java.util.Locale.ROOT, "%.2f", (System.nanoTime() - start) / 1e9));
            return model;
        } catch (RuntimeException e) {
            manager.close();
            team.close();
            throw e;
        }
    }

    /** The checkpoint's parameter count (its tensors' elements; a tied output layer is not counted twice). */
    static long parameters(Checkpoint ckpt) {
        long n = 0;
        for (var t : ckpt.tensors().values()) {
            long size = 1;
            for (long d : t.shape()) {
                size *= d;
            }
            n += size;
        }
        return n;
    }

    public static Checkpoint read(Path path) {
        if (Files.isDirectory(path)) {
            return HfCheckpointReader.read(path);
        }
        if (Files.isRegularFile(path)) {
            return Llama2cReader.read(path);
        }
        throw new CheckpointException("model path " + path.toAbsolutePath() + " does not exist"
                + " (run scripts/fetch-model.sh for the default model)");
    }

    static Device parseDevice(String device) {
        String d = device == null ? "cpu" : device.trim().toLowerCase();
        if (d.equals("cpu")) {
            return Device.cpu();
        }
        if (d.equals("gpu") || d.equals("cuda")) {
            return Device.gpu();
        }
        if (d.matches("(gpu|cuda):\\d+")) {
            return Device.gpu(Integer.parseInt(d.substring(d.indexOf(':') + 1)));
        }
        throw new CheckpointException("unknown reft.model.device '" + device + "' (supported: cpu, gpu, gpu:N)");
    }

    private static boolean isBfloat16(String dtype) {
        return dtype != null && List.of("bfloat16", "bf16").contains(dtype.trim().toLowerCase());
    }

    static DataType parseDtype(String dtype, Device device) {
        String d = dtype == null ? "float32" : dtype.trim().toLowerCase();
        return switch (d) {
            case "float32", "fp32" -> DataType.FLOAT32;
            case "float16", "fp16", "half" -> {
                if (device.isGpu()) {
                    yield DataType.FLOAT16;
                }
                // fp16 matmul on CPU is about 100x slower than fp32 in libtorch.
                throw new CheckpointException("reft.model.dtype float16 needs a GPU device; use float32 or bfloat16"
                        + " on cpu");
            }
            default -> throw new CheckpointException("unknown reft.model.dtype '" + dtype
                    + "' (supported: auto, float32, bfloat16, float16)");
        };
    }
}

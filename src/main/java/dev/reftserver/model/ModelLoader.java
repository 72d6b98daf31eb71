package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.reftserver.model.checkpoint.Checkpoint;
import dev.reftserver.model.checkpoint.CheckpointException;
import dev.reftserver.model.checkpoint.HfCheckpointReader;
import dev.reftserver.model.checkpoint.Llama2cReader;
import dev.reftserver.model.gpt2.Gpt2Architecture;
import dev.reftserver.model.llama.LlamaArchitecture;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a checkpoint (llama2.c {@code .bin} or a Hugging Face directory) onto a device as a {@link CausalLM}. */
public final class ModelLoader {

    private ModelLoader() {
    }

    /**
     * @param path   a llama2.c {@code .bin} file or a Hugging Face model directory
     * @param device {@code cpu}, {@code gpu} or {@code gpu:N}
     * @param dtype  {@code float32}, or {@code float16} on a GPU
     */
    public static TransformerLM load(Path path, String device, String dtype) {
        Device dev = parseDevice(device);
        DataType dt = parseDtype(dtype, dev);
        Checkpoint ckpt = read(path);
        NDManager manager = NDManager.newBaseManager(dev);
        try {
            Architecture arch = switch (ckpt.config().architecture()) {
                case LLAMA -> new LlamaArchitecture(manager.newSubManager(), ckpt, dt);
                case GPT2 -> new Gpt2Architecture(manager.newSubManager(), ckpt, dt);
            };
            return new TransformerLM(manager, arch, dt);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
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
        throw new CheckpointException("unknown device '" + device + "' (use cpu, gpu or gpu:N)");
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
                throw new CheckpointException("dtype float16 needs a GPU device; use float32 on cpu");
            }
            default -> throw new CheckpointException("unknown dtype '" + dtype + "' (use float32 or float16)");
        };
    }
}

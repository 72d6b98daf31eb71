package dev.reftserver.model;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What {@code reft.model.dtype=auto} loads a checkpoint in: the checkpoint's own dtype where the device computes it
 * well, as transformers' {@code torch_dtype="auto"} reads it (config.json's {@code dtype}, or {@code torch_dtype} in
 * the transformers 4 form; a checkpoint that names none, like a llama2.c file, is float32).
 * <ul>
 * <li>A CPU: bfloat16 for a bfloat16 checkpoint of the Llama family where the CPU has bfloat16 instructions,
 * AMX-BF16 or AVX-512 BF16 (there oneDNN's packed bfloat16 kernels outrun float32 at half the weight memory: on the
 * Qwen2.5-0.5B shape, with AMX 1.3 to 1.5x at batch 1 and 2.7x at 16 concurrent requests; on an AMD Zen 4 with
 * AVX-512 BF16 and no AMX 1.6x at batch 1, 2.9x at batch 16 and 1.5x for a 2,048-token prefill;
 * docs/benchmarks.md); float32 otherwise (without them oneDNN emulates bfloat16, and libtorch's float16 matmul is
 * about 100x slower on a CPU).</li>
 * <li>A GPU: bfloat16 for a bfloat16 checkpoint of the Llama family on compute capability 8.0 and later; float16
 * otherwise, as vLLM's {@code auto} does (a float32 checkpoint runs at half precision).</li>
 * </ul>
 */
public final class AutoDtype {

    private AutoDtype() {
    }

    /** The dtype {@code auto} resolves to: {@code float32}, {@code bfloat16} or {@code float16}. */
    public static String choose(String checkpointDtype, boolean llamaFamily, boolean gpu, boolean bfloat16Fast) {
        boolean bfloat16 = "bfloat16".equals(checkpointDtype) && llamaFamily && bfloat16Fast;
        if (gpu) {
            return bfloat16 ? "bfloat16" : "float16";
        }
        return bfloat16 ? "bfloat16" : "float32";
    }

    /** {@link #choose} for this checkpoint on {@code device}, with a line saying why. */
    static Choice resolve(Path path, ModelConfig config, Device device) {
        String stored = checkpointDtype(path);
        boolean llama = config.architecture() == ModelConfig.Architecture.LLAMA;
        boolean fast = device.isGpu() ? gpuComputesBfloat16(device) : cpuComputesBfloat16();
        String chosen = choose(stored, llama, device.isGpu(), fast);
        String why = "the checkpoint is " + stored;
        if ("bfloat16".equals(stored) && !chosen.equals("bfloat16")) {
            why += !llama ? ", which this runtime keeps in bfloat16 for the Llama family only"
                    : device.isGpu() ? " and this GPU has no bfloat16 (compute capability 8.0)"
                    : " and this CPU has neither AMX-BF16 nor AVX-512 BF16";
        } else if (chosen.equals("bfloat16")) {
            why += device.isGpu() ? " and this GPU computes it" : " and this CPU computes it with "
                    + bfloat16Instructions(cpuinfo());
        }
        return new Choice(chosen, why);
    }

    /** What {@code auto} resolved to, and why. */
    record Choice(String dtype, String reason) {
    }

    /**
     * The dtype config.json names ({@code dtype}, else {@code torch_dtype}, at the top or in {@code text_config}),
     * in this runtime's spelling; float32 where there is none (a llama2.c file, a config without it).
     */
    static String checkpointDtype(Path path) {
        Path config = path.resolve("config.json");
        if (!Files.isDirectory(path) || !Files.isRegularFile(config)) {
            return "float32";
        }
        try {
            JsonObject c = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
            String named = named(c);
            if (named == null && c.get("text_config") instanceof JsonObject text) {
                named = named(text);
            }
            if (named == null) {
                return "float32";
            }
            return switch (named.toLowerCase(Locale.ROOT).replace("torch.", "")) {
                case "bfloat16", "bf16" -> "bfloat16";
                case "float16", "fp16", "half" -> "float16";
                default -> "float32";
            };
        } catch (IOException | RuntimeException e) {
            // the checkpoint reader has read this file already; an unreadable dtype is float32's
            return "float32";
        }
    }

    private static String named(JsonObject c) {
        for (String key : new String[] {"dtype", "torch_dtype"}) {
            JsonElement e = c.get(key);
            if (e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) {
                return e.getAsString();
            }
        }
        return null;
    }

    /** This CPU has AMX-BF16 or AVX-512 BF16. */
    static boolean cpuComputesBfloat16() {
        return bfloat16Instructions(cpuinfo()) != null;
    }

    /**
     * The bfloat16 instructions a /proc/cpuinfo text names, the faster first: "AMX-BF16" ({@code amx_bf16}),
     * "AVX-512 BF16" ({@code avx512_bf16}), or null for none.
     */
    static String bfloat16Instructions(String cpuinfo) {
        return hasFlag(cpuinfo, "amx_bf16") ? "AMX-BF16" : hasFlag(cpuinfo, "avx512_bf16") ? "AVX-512 BF16" : null;
    }

    /** Linux's /proc/cpuinfo, or "" where there is none. */
    private static String cpuinfo() {
        try {
            return Files.readString(Path.of("/proc/cpuinfo"));
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /** Whether a /proc/cpuinfo text's {@code flags} lines hold {@code flag} as a whole word. */
    static boolean hasFlag(String cpuinfo, String flag) {
        for (String line : cpuinfo.split("\n")) {
            if (line.startsWith("flags") && (" " + line.substring(line.indexOf(':') + 1) + " ")
                    .contains(" " + flag + " ")) {
                return true;
            }
        }
        return false;
    }

    private static boolean gpuComputesBfloat16(Device device) {
        try {
            return Integer.parseInt(CudaUtils.getComputeCapability(device.getDeviceId())) >= 80;
        } catch (RuntimeException e) {
            return false;
        }
    }
}

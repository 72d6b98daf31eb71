package dev.reftserver.bench;

import ai.djl.ndarray.NDManager;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.KvCache;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.TransformerLM;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * How long {@link ModelLoader#load} takes on one checkpoint and how much memory the process holds after it, one
 * load per process (so resident memory is this load's): the engine is started first and not counted, as HF's
 * figure does not count importing torch. With {@code --python=PATH} (a Python with torch and transformers) it then
 * runs src/test/scripts/hf_load_bench.py, HF's {@code from_pretrained} on the same files in the same dtype, in a
 * process of its own, and prints the ratios (this over HF). Both also report load plus the first forward (a
 * one-token prompt): HF maps a bfloat16 file and reads its weights only when a forward touches them.
 *
 * <p>Usage: {@code LoadBenchmark MODEL_DIR [--dtype=float32|bfloat16] [--threads=N] [--python=PATH]}
 * ({@code --threads}: the model's cores, 0 for all). Figures: docs/benchmarks.md.
 */
public final class LoadBenchmark {

    private LoadBenchmark() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length < 1) {
            System.err.println("usage: LoadBenchmark MODEL_DIR [--dtype=float32|bfloat16] [--threads=N] [--python=PATH]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        String dtype = "float32";
        String python = null;
        int threads = 0;
        for (int i = 1; i < args.length; i++) {
            if (args[i].startsWith("--dtype=")) {
                dtype = args[i].substring("--dtype=".length());
            } else if (args[i].startsWith("--threads=")) {
                threads = Integer.parseInt(args[i].substring("--threads=".length()));
            } else if (args[i].startsWith("--python=")) {
                python = args[i].substring("--python=".length());
            } else {
                throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        long e0 = System.nanoTime();
        NDManager.newBaseManager().close();
        double engineS = (System.nanoTime() - e0) / 1e9;
        double rssBefore = statusGb("VmRSS");
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        double loadS;
        double rss;
        double peak;
        double heap;
        double cpuS;
        double firstS;
        try (TransformerLM model = ModelLoader.load(dir, "cpu", dtype, threads)) {
            loadS = (System.nanoTime() - t0) / 1e9;
            cpuS = (os.getProcessCpuTime() - cpu0) / 1e9;
            rss = statusGb("VmRSS");
            peak = statusGb("VmHWM");
            // The first forward, one token: a loader that maps the file and reads weights lazily pays here.
            try (NDManager step = NDManager.newBaseManager(); KvCache cache = model.newCache(1, 8)) {
                model.prefill(step, new int[][] {{1}}, new int[] {0}, cache, BlockHook.NONE).argMax().getLong();
            }
            firstS = (System.nanoTime() - t0) / 1e9;
            System.gc();
            Runtime rt = Runtime.getRuntime();
            heap = (rt.totalMemory() - rt.freeMemory()) / 1e9;
        }
        StringBuilder json = new StringBuilder(String.format(Locale.ROOT,
                "{\"dir\": \"%s\", \"dtype\": \"%s\", \"engine_start_s\": %.2f, \"load_s\": %.2f,"
                        + " \"load_cpu_s\": %.2f, \"load_and_first_token_s\": %.2f, \"rss_before_gb\": %.2f,"
                        + " \"rss_gb\": %.2f, \"peak_rss_gb\": %.2f, \"heap_used_gb\": %.2f",
                dir, dtype, engineS, loadS, cpuS, firstS, rssBefore, rss, peak, heap));
        if (python != null) {
            String hf = runHf(python, dir, dtype);
            json.append(", \"hf\": ").append(hf);
            double hfLoad = field(hf, "load_s");
            double hfRss = field(hf, "rss_gb");
            double hfFirst = field(hf, "load_and_first_token_s");
            json.append(String.format(Locale.ROOT, ", \"load_vs_hf\": %.2f, \"load_and_first_token_vs_hf\": %.2f,"
                    + " \"rss_vs_hf\": %.2f", loadS / hfLoad, firstS / hfFirst, rss / hfRss));
        }
        System.out.println(json.append('}'));
    }

    private static String runHf(String python, Path dir, String dtype) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(python, "src/test/scripts/hf_load_bench.py", dir.toString(),
                dtype));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("hf_load_bench.py failed: " + out);
        }
        String[] lines = out.split("\n");
        return lines[lines.length - 1];
    }

    /** A number field of a flat JSON object. */
    private static double field(String json, String name) {
        int at = json.indexOf("\"" + name + "\":");
        int from = at + name.length() + 3;
        int to = from;
        while (to < json.length() && ",}".indexOf(json.charAt(to)) < 0) {
            to++;
        }
        return Double.parseDouble(json.substring(from, to).strip());
    }

    private static double statusGb(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.split("\\s+")[1]) * 1024 / 1e9;
            }
        }
        return Double.NaN;
    }
}

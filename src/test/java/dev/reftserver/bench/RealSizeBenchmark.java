package dev.reftserver.bench;

import dev.reftserver.ReftServerApplication;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The server on one Hugging Face checkpoint directory (e.g. one {@link RandomCheckpoint} wrote), as a process of
 * its own so its peak resident memory (VmHWM) is the server's alone, measured through its HTTP API: time until
 * ready, resident memory, batch-1 greedy decode tokens/s (a request of N+1 tokens minus one of 1, so prefill is
 * not counted) and the weight bytes that streams per second, batch-16 throughput (16 concurrent requests of N
 * tokens), each the median of three runs after a warm-up of both shapes, the time of one long prefill (2,048 tokens unless {@code --prefill-tokens}), and greedy
 * continuations. With {@code --python=PATH} (a Python with
 * torch and transformers) it then runs src/test/scripts/hf_real_size_bench.py on the same files, after the server
 * has stopped, and adds HF's figures, the ratios and whether the greedy texts are equal. Prints one JSON object.
 *
 * <p>Usage: {@code RealSizeBenchmark MODEL_DIR [--python=PATH] [--hf-dtypes=bfloat16,float32]
 * [--decode-tokens=64] [--prefill-tokens=2048] [--jvm=-Xmx8g] [--reft.engine.max-batch-size=16 ...]}; every {@code --reft.*} argument
 * goes to the server. Command and figures: docs/benchmarks.md.
 */
public final class RealSizeBenchmark {

    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog ran to the park",
            "Lily and Ben went to the beach and", "One day, a big red ball");

    /** {@code tokens} tokens with the Llama-2 tokenizer: BOS, then "▁hello" {@code tokens - 1} times. */
    static String prefillPrompt(int tokens) {
        return "hello" + " hello".repeat(tokens - 2);
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;
    private String model;

    private RealSizeBenchmark(int port) {
        this.base = "http://127.0.0.1:" + port;
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Map<String, String> opt = new LinkedHashMap<>();
        List<String> serverArgs = new ArrayList<>();
        for (String a : List.of(args).subList(1, args.length)) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            if (kv[0].startsWith("reft.")) {
                serverArgs.add(a);
            } else {
                opt.put(kv[0], kv.length > 1 ? kv[1] : "true");
            }
        }
        int decodeTokens = Integer.parseInt(opt.getOrDefault("decode-tokens", "64"));
        String prefill = prefillPrompt(Integer.parseInt(opt.getOrDefault("prefill-tokens", "2048")));
        ObjectNode out = JSON.createObjectNode();
        out.put("model_dir", dir.toString());
        out.put("server_args", String.join(" ", serverArgs));
        long params = parameterCount(dir.resolve("model.safetensors"), false);
        out.put("parameters", params);
        // What a decode step reads: every weight but the embedding table, of which it takes a row per token (with
        // tied embeddings the table is read whole as the output layer, so it counts).
        long streamed = parameterCount(dir.resolve("model.safetensors"), true);
        out.put("parameters_streamed_per_token", streamed);
        ObjectNode server = out.putObject("server");
        serve(dir, serverArgs, opt.get("jvm"), decodeTokens, prefill, streamed, server);
        String python = opt.get("python");
        if (python != null) {
            JsonNode hf = runHf(python, dir, opt.getOrDefault("hf-dtypes", "bfloat16,float32"), decodeTokens,
                    prefill);
            out.set("hf", hf);
            out.set("ratios", ratios(server, hf));
        }
        System.out.println(out.toPrettyString());
    }

    private static void serve(Path dir, List<String> serverArgs, String jvm, int decodeTokens, String prefillPrompt,
            long streamedParams, ObjectNode r) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path store = Files.createTempDirectory("reft-real-size-store");
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
        if (jvm != null) {
            cmd.addAll(List.of(jvm.split(" ")));
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), ReftServerApplication.class.getName(),
                "--server.port=" + port, "--reft.model.path=" + dir, "--reft.store.path=" + store,
                "--logging.level.root=WARN"));
        cmd.addAll(serverArgs);
        Path log = Files.createTempFile("reft-real-size-server", ".log");
        r.put("log", log.toString());
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            RealSizeBenchmark b = new RealSizeBenchmark(port);
            if (!b.awaitReady(p, Duration.ofMinutes(10))) {
                r.put("error", "the server exited with " + p.exitValue() + " before it was ready; see the log");
                return;
            }
            r.put("ready_s", round((System.nanoTime() - t0) / 1e9));
            r.put("rss_after_load_gb", round(memoryKb(p, "VmRSS") / 1e6));
            b.model = JSON.readTree(b.get("/v1/models")).path("data").get(0).path("id").asString();
            r.put("model_id", b.model);
            // Warm-up, as the HF script does: the shapes of both measures, so the first run of neither pays for
            // the JIT or for oneDNN's first kernels at a batch size.
            b.complete(PROMPTS.get(0), 8);
            b.complete(PROMPTS.get(0), decodeTokens + 1);
            b.concurrent(16, 8);
            double decode = median(() -> {
                double[] one = b.complete(PROMPTS.get(0), 1);
                double[] n = b.complete(PROMPTS.get(0), decodeTokens + 1);
                return (n[1] - one[1]) / (n[0] - one[0]);
            });
            String dtype = dtypeOf(serverArgs);
            double gbPerToken = streamedParams * (dtype.equals("float32") ? 4 : 2) / 1e9;
            r.put("dtype", dtype);
            r.put("decode_batch1_tokens_per_s", round(decode));
            r.put("decode_batch1_weight_gb_per_s", round(decode * gbPerToken));
            r.put("decode_batch16_tokens_per_s", round(median(() -> b.concurrent(16, decodeTokens))));
            double[] prefill = b.complete(prefillPrompt, 1);
            r.put("prefill_tokens", (int) prefill[2]);
            r.put("prefill_s", round(prefill[0]));
            var greedy = r.putArray("greedy");
            for (String prompt : PROMPTS) {
                greedy.addObject().put("prompt", prompt).put("text", b.text(prompt, decodeTokens));
            }
            r.put("vm_hwm_gb", round(memoryKb(p, "VmHWM") / 1e6));
        } catch (IOException e) {
            // e.g. the OS killed the server for memory: keep what was measured and say where it stopped
            r.put("error", p.waitFor(5, TimeUnit.SECONDS) ? "the server exited with " + p.exitValue()
                    + " during the benchmark (137: killed, e.g. out of memory)" : e.toString());
        } finally {
            p.destroy();
            p.waitFor(60, TimeUnit.SECONDS);
            p.destroyForcibly();
        }
    }

    private boolean awaitReady(Process p, Duration limit) throws Exception {
        long end = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < end && p.isAlive()) {
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(base + "/readyz")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return true;
                }
            } catch (IOException notListeningYet) {
                // the server has not opened its port yet
            }
            Thread.sleep(200);
        }
        return false;
    }

    private String get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    private JsonNode post(String prompt, int maxTokens) throws Exception {
        ObjectNode body = JSON.createObjectNode().put("model", model).put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0);
        HttpResponse<String> resp = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofMinutes(10))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() != 200) {
            throw new IllegalStateException(resp.statusCode() + " " + resp.body());
        }
        return JSON.readTree(resp.body());
    }

    /** Seconds, completion tokens and prompt tokens of one greedy request. */
    private double[] complete(String prompt, int maxTokens) throws Exception {
        long t = System.nanoTime();
        JsonNode usage = post(prompt, maxTokens).path("usage");
        return new double[] {(System.nanoTime() - t) / 1e9, usage.path("completion_tokens").asInt(),
                usage.path("prompt_tokens").asInt()};
    }

    private String text(String prompt, int maxTokens) throws Exception {
        return post(prompt, maxTokens).path("choices").get(0).path("text").asString();
    }

    interface Measure {
        double run() throws Exception;
    }

    /** The median of three runs (both sides of a ratio measure so: one run is at the mercy of a noisy host). */
    static double median(Measure m) throws Exception {
        double[] v = {m.run(), m.run(), m.run()};
        java.util.Arrays.sort(v);
        return v[1];
    }

    /** Generated tokens per second of {@code clients} concurrent greedy requests, start to last response. */
    private double concurrent(int clients, int maxTokens) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            long t = System.nanoTime();
            List<Future<double[]>> runs = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                String prompt = PROMPTS.get(i % PROMPTS.size());
                runs.add(pool.submit(() -> complete(prompt, maxTokens)));
            }
            double tokens = 0;
            for (Future<double[]> f : runs) {
                tokens += f.get()[1];
            }
            return tokens / ((System.nanoTime() - t) / 1e9);
        } finally {
            pool.shutdown();
        }
    }

    private static JsonNode runHf(String python, Path dir, String dtypes, int decodeTokens, String prefillPrompt)
            throws Exception {
        Path prompts = Files.createTempFile("reft-real-size-prompts", ".json");
        Path prefill = Files.createTempFile("reft-real-size-prefill", ".txt");
        Files.writeString(prompts, JSON.writeValueAsString(PROMPTS));
        Files.writeString(prefill, prefillPrompt);
        Process p = new ProcessBuilder(python, "src/test/scripts/hf_real_size_bench.py", dir.toString(),
                "--dtypes", dtypes, "--decode-tokens", String.valueOf(decodeTokens),
                "--prompts-file", prompts.toString(), "--prefill-prompt-file", prefill.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            return JSON.createObjectNode().put("error", "hf_real_size_bench.py exited with " + p.exitValue());
        }
        return JSON.readTree(stdout.substring(stdout.lastIndexOf("\n") + 1));
    }

    /** Server over HF for each HF dtype; load compares ready time with from_pretrained. */
    private static ObjectNode ratios(ObjectNode server, JsonNode hf) {
        ObjectNode r = JSON.createObjectNode();
        hf.properties().forEach(e -> {
            JsonNode h = e.getValue();
            if (h.has("error") || server.has("error")) {
                return;
            }
            ObjectNode d = r.putObject("server_over_hf_" + e.getKey());
            d.put("decode_batch1", round(server.path("decode_batch1_tokens_per_s").asDouble()
                    / h.path("decode_batch1_tokens_per_s").asDouble()));
            d.put("decode_batch16", round(server.path("decode_batch16_tokens_per_s").asDouble()
                    / h.path("decode_batch16_tokens_per_s").asDouble()));
            d.put("prefill_time", round(server.path("prefill_s").asDouble() / h.path("prefill_s").asDouble()));
            // The process from its start (JVM, Spring, model, warm-up) until /readyz, over from_pretrained alone:
            // not the loaders' ratio, which LoadBenchmark measures.
            d.put("ready_over_from_pretrained", round(server.path("ready_s").asDouble()
                    / h.path("load_s").asDouble()));
            d.put("peak_memory", round(server.path("vm_hwm_gb").asDouble() / h.path("peak_rss_gb").asDouble()));
            int equal = 0;
            for (int i = 0; i < PROMPTS.size(); i++) {
                if (server.path("greedy").get(i).path("text").asString()
                        .equals(h.path("greedy").get(i).path("text").asString())) {
                    equal++;
                }
            }
            d.put("greedy_texts_equal", equal + "/" + PROMPTS.size());
        });
        return r;
    }

    private static String dtypeOf(List<String> serverArgs) {
        return serverArgs.stream().filter(a -> a.startsWith("--reft.model.dtype=")).map(a -> a.split("=", 2)[1])
                .findFirst().orElse("float32");   // application.yml's default on a CPU
    }

    /**
     * Sum of the tensors' elements, from the safetensors header; {@code streamed}: without an embedding table that
     * has an output layer of its own ({@code lm_head.weight}).
     */
    static long parameterCount(Path file, boolean streamed) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            ByteBuffer header = ByteBuffer.allocate((int) len.flip().getLong());
            ch.read(header, 8);
            long n = 0;
            JsonNode tensors = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            boolean untied = tensors.has("lm_head.weight");
            for (var e : tensors.properties()) {
                long elements = 1;
                for (JsonNode d : e.getValue().path("shape")) {
                    elements *= d.asLong();
                }
                boolean table = streamed && untied && e.getKey().endsWith("embed_tokens.weight");
                n += e.getKey().equals("__metadata__") || table ? 0 : elements;
            }
            return n;
        }
    }

    private static long memoryKb(Process p, String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return -1;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}

package dev.reftserver.bench;

import dev.reftserver.ReftServerApplication;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.model.TransformerLM;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.DoubleSupplier;
import java.util.function.IntFunction;
import java.util.regex.Pattern;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The serving engine through its real HTTP API on the default model, every figure from one run on one machine:
 * aggregate generated tokens/s at 1, 4, 16 and 32 concurrent clients on the base model; 16 concurrent clients
 * each on its own LoReFT bundle (4 layers, f5+l5, rank 4) against the base model; the same with 1,000 bundles
 * registered and each request picking one at random; time to first token p50/p99 at 16 concurrent streams.
 * With {@code --soak=SECONDS} it instead runs 16 concurrent streams that long and reports resident memory and
 * live NDArrays after warm-up and at the end. Prints one JSON object. Command: see docs/benchmarks.md.
 */
public final class ServingBenchmark {

    private static final Pattern COMPLETION_TOKENS = Pattern.compile("\"completion_tokens\":(\\d+)");
    private static final List<String> PROMPTS = List.of(
            "Once upon a time", "The little dog ran to the park", "Lily and Ben went to the beach and",
            "One day, a big red ball", "Tom had a toy car that he loved very much. One morning",
            "The sun was shining and the birds were singing in the trees.", "Sam wanted to build a tall tower",
            "In a small house near the river lived an old man and his wife.");

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;
    private final int maxTokens;
    private final DoubleSupplier generatedTokens;

    ServingBenchmark(int port, int maxTokens, DoubleSupplier generatedTokens) {
        this.base = "http://127.0.0.1:" + port;
        this.maxTokens = maxTokens;
        this.generatedTokens = generatedTokens;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>();
        for (String a : args) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            opt.put(kv[0], kv.length > 1 ? kv[1] : "true");
        }
        int seconds = Integer.parseInt(opt.getOrDefault("duration", "20"));
        int soak = Integer.parseInt(opt.getOrDefault("soak", "0"));
        int bundles = Integer.parseInt(opt.getOrDefault("bundles", "1000"));
        Path store = Files.createTempDirectory("reft-bench-store");
        // Command-line arguments, not builder properties: those are defaults that application.yml overrides.
        // Any --reft.* argument of this benchmark (e.g. --reft.model.threads=1) goes to the server as well.
        List<String> serverArgs = new ArrayList<>(List.of("--server.port=0", "--reft.store.path=" + store,
                "--reft.engine.max-batch-size=32", "--reft.engine.max-queue=4096", "--logging.level.root=WARN",
                "--logging.level.dev.reftserver=WARN",
                // One tenant holds every bundle and every client: the per-tenant quotas' defaults are not the
                // subject here.
                "--reft.quotas.interventions=100000", "--reft.quotas.stored-bytes=64GB",
                "--reft.quotas.concurrent-requests=4096"));
        opt.forEach((k, v) -> {
            if (k.startsWith("reft.")) {
                serverArgs.add("--" + k + "=" + v);
            }
        });
        ConfigurableApplicationContext ctx = new SpringApplicationBuilder(ReftServerApplication.class)
                .run(serverArgs.toArray(String[]::new));
        try {
            int port = Integer.parseInt(ctx.getEnvironment().getProperty("local.server.port"));
            MeterRegistry registry = ctx.getBean(MeterRegistry.class);
            ServingBenchmark b = new ServingBenchmark(port, Integer.parseInt(opt.getOrDefault("max-tokens", "64")),
                    () -> registry.get("reft.generated.tokens").counter().count());
            String json = soak > 0 ? b.soak(ctx, soak) : b.throughput(seconds, bundles);
            System.out.println(json);
        } finally {
            ctx.close();
        }
    }

    private String throughput(int seconds, int registered) throws Exception {
        Duration d = Duration.ofSeconds(seconds);
        for (int i = 0; i < 16; i++) {
            upload("b" + i, BenchBundles.loreft(100 + i, 288, 6, new int[] {1, 2, 3, 4}, 4, "f5+l5"));
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < registered; i++) {
            upload("k" + i, BenchBundles.loreft(10_000 + i, 288, 6, new int[] {1, 2, 3, 4}, 4, "f5+l5"));
        }
        double uploadSeconds = (System.nanoTime() - t0) / 1e9;
        run(16, Duration.ofSeconds(5), c -> "stories15M");   // warm-up
        Map<String, Double> r = new LinkedHashMap<>();
        r.put("base_c1", run(1, d, c -> "stories15M"));
        r.put("base_c4", run(4, d, c -> "stories15M"));
        // Every registered bundle is used once before the measured windows, so they measure the steady state
        // (the device cache holds all of them; its default 256 MB is 7x what they need). The cold pass is timed.
        long c0 = System.nanoTime();
        warmEveryBundle(registered);
        double coldPassSeconds = (System.nanoTime() - c0) / 1e9;
        // The three 16-client scenarios whose ratios matter share one set of 16 clients and take turns in short
        // windows (a settling period after each switch, so the rows of the previous scenario have left the
        // batch), so a drift of the machine's speed falls on all three alike. Ratios pair adjacent windows.
        Random rnd = new Random(7);
        List<IntFunction<String>> scenarios = List.of(c -> "stories15M", c -> "b" + c, c -> {
            synchronized (rnd) {
                return "k" + rnd.nextInt(registered);
            }
        });
        List<List<Double>> windows = interleaved(16, scenarios, Math.max(4, seconds / 2), Duration.ofSeconds(2),
                Duration.ofSeconds(4));
        List<Double> base16 = windows.get(0);
        List<Double> own16 = windows.get(1);
        List<Double> random1000 = windows.get(2);
        r.put("base_c16", median(base16));
        r.put("bundles16_c16", median(own16));
        r.put("bundles1000_random_c16", median(random1000));
        r.put("base_c32", run(32, d, c -> "stories15M"));
        double[] ttft = ttft(16, d);
        return String.format(Locale.ROOT, "{\"duration_s_per_scenario\":%d,\"max_tokens\":%d,"
                        + "\"generated_tokens_per_s\":{\"base_c1\":%.1f,\"base_c4\":%.1f,\"base_c16\":%.1f,"
                        + "\"base_c32\":%.1f,\"bundles16_c16\":%.1f,\"bundles1000_random_c16\":%.1f},"
                        + "\"ratio_c16_over_c1\":%.2f,\"ratio_bundles16_over_base_c16_paired\":%.3f,"
                        + "\"ratio_bundles1000_over_bundles16_paired\":%.3f,\"ttft_ms_c16\":{\"p50\":%.1f,\"p99\":%.1f},"
                        + "\"registered_bundles\":%d,\"upload_s\":%.1f,\"first_use_of_every_bundle_s\":%.1f,"
                        + "\"windows_c16\":{\"base\":%s,\"bundles16\":%s,\"bundles1000_random\":%s},"
                        + "\"base_window_to_window_change_pct_median\":%.1f}",
                seconds, maxTokens, r.get("base_c1"), r.get("base_c4"), r.get("base_c16"), r.get("base_c32"),
                r.get("bundles16_c16"), r.get("bundles1000_random_c16"), r.get("base_c16") / r.get("base_c1"),
                pairedRatio(own16, base16), pairedRatio(random1000, own16),
                ttft[0], ttft[1], registered + 16, uploadSeconds, coldPassSeconds, json(base16), json(own16),
                json(random1000), windowNoisePercent(base16));
    }

    private static double median(List<Double> v) {
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a[a.length / 2];
    }

    private void upload(String name, byte[] zip) throws Exception {
        String boundary = UUID.randomUUID().toString();
        var body = new java.io.ByteArrayOutputStream();
        body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + name + "\r\n")
                .getBytes(StandardCharsets.UTF_8));
        body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"" + name
                + ".zip\"\r\nContent-Type: application/zip\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.write(zip);
        body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/interventions"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 201) {
            throw new IllegalStateException("upload " + name + " failed: " + r.statusCode() + " " + r.body());
        }
    }

    private HttpRequest completion(String model, String prompt, boolean stream) {
        String body = String.format(Locale.ROOT,
                "{\"model\":\"%s\",\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0%s}", model, prompt,
                maxTokens, stream ? ",\"stream\":true" : "");
        return HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofMinutes(5))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    /**
     * {@code clients} closed-loop clients; returns the engine's generated tokens per second over a window of
     * {@code d} in steady state: it opens after every client has had a response (the batch is full and staggered)
     * and closes while all of them are still busy, so neither the ramp nor the drain at the end is counted.
     */
    double run(int clients, Duration d, IntFunction<String> model) throws Exception {
        return interleaved(clients, List.of(model), 1, Duration.ZERO, d).get(0).get(0);
    }

    /**
     * {@code clients} closed-loop clients whose model follows the current scenario; the scenarios take turns for
     * {@code cycles} rounds, each turn a {@code settle} period then a measured window. Returns each scenario's
     * generated tokens per second, one entry per window, in turn order.
     */
    private List<List<Double>> interleaved(int clients, List<IntFunction<String>> scenarios, int cycles,
            Duration settle, Duration window) throws Exception {
        AtomicInteger current = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch warmedUp = new CountDownLatch(clients);
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<?>> fs = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            fs.add(pool.submit(() -> {
                int i = client;
                while (!stop.get()) {
                    String model = scenarios.get(current.get()).apply(client);
                    HttpResponse<String> r = http.send(completion(model, PROMPTS.get(i++ % PROMPTS.size()), false),
                            HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() != 200 || !COMPLETION_TOKENS.matcher(r.body()).find()) {
                        throw new IllegalStateException(r.statusCode() + " " + r.body());
                    }
                    warmedUp.countDown();
                }
                return null;
            }));
        }
        List<List<Double>> out = new ArrayList<>();
        scenarios.forEach(x -> out.add(new ArrayList<>()));
        try {
            if (!warmedUp.await(2, TimeUnit.MINUTES)) {
                throw new IllegalStateException("clients got no responses within two minutes");
            }
            for (int cycle = 0; cycle < cycles; cycle++) {
                for (int k = 0; k < scenarios.size(); k++) {
                    current.set(k);
                    Thread.sleep(settle.toMillis());
                    double before = generatedTokens.getAsDouble();
                    long t0 = System.nanoTime();
                    Thread.sleep(window.toMillis());
                    out.get(k).add((generatedTokens.getAsDouble() - before) / ((System.nanoTime() - t0) / 1e9));
                }
            }
            return out;
        } finally {
            stop.set(true);
            joinAll(pool, fs);
        }
    }

    private static String json(List<Double> v) {
        return v.stream().map(x -> String.format(Locale.ROOT, "%.0f", x))
                .collect(java.util.stream.Collectors.joining(",", "[", "]"));
    }

    /** The noise floor: median |x[w+1] / x[w] - 1| of one scenario's consecutive windows, in percent. */
    private static double windowNoisePercent(List<Double> v) {
        List<Double> changes = new ArrayList<>();
        for (int w = 1; w < v.size(); w++) {
            changes.add(100 * Math.abs(v.get(w) / v.get(w - 1) - 1));
        }
        return median(changes);
    }

    /** Median over windows of a[w] / b[w]: windows run back to back, so each pair saw the same machine. */
    private static double pairedRatio(List<Double> a, List<Double> b) {
        List<Double> ratios = new ArrayList<>();
        for (int w = 0; w < a.size(); w++) {
            ratios.add(a.get(w) / b.get(w));
        }
        return median(ratios);
    }

    /** One one-token request per registered bundle {@code k0..k(n-1)}, from 16 clients. */
    private void warmEveryBundle(int n) throws Exception {
        AtomicInteger next = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(16);
        List<Future<?>> fs = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
            fs.add(pool.submit(() -> {
                for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
                    String body = String.format(Locale.ROOT,
                            "{\"model\":\"k%d\",\"prompt\":\"Once upon a time\",\"max_tokens\":1}", i);
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                            .build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() != 200) {
                        throw new IllegalStateException(r.statusCode() + " " + r.body());
                    }
                }
                return null;
            }));
        }
        joinAll(pool, fs);
    }

    /**
     * Waits for every client's future, then stops the pool, also when a client failed (its exception is rethrown):
     * a pool left running keeps the JVM alive after the benchmark's output.
     */
    private static void joinAll(ExecutorService pool, List<Future<?>> fs) throws Exception {
        try {
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Time from sending a streaming request to its first data chunk, at {@code clients} concurrent streams. */
    double[] ttft(int clients, Duration d) throws Exception {
        List<Double> samples = java.util.Collections.synchronizedList(new ArrayList<>());
        long end = System.nanoTime() + d.toNanos();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<?>> fs = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            fs.add(pool.submit(() -> {
                int i = client;
                while (System.nanoTime() < end) {
                    long s = System.nanoTime();
                    HttpResponse<InputStream> r = http.send(completion("stories15M",
                            PROMPTS.get(i++ % PROMPTS.size()), true), HttpResponse.BodyHandlers.ofInputStream());
                    try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(),
                            StandardCharsets.UTF_8))) {
                        String line;
                        boolean first = true;
                        while ((line = in.readLine()) != null) {
                            if (first && line.startsWith("data: ")) {
                                samples.add((System.nanoTime() - s) / 1e6);
                                first = false;
                            }
                            if (line.equals("data: [DONE]")) {
                                break;
                            }
                        }
                    }
                }
                return null;
            }));
        }
        joinAll(pool, fs);
        double[] v = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return new double[] {v[v.length / 2], v[Math.min(v.length - 1, (int) Math.ceil(v.length * 0.99) - 1)]};
    }

    /** 16 concurrent streams for {@code seconds}; memory and live arrays after 60 s of warm-up and at the end. */
    private String soak(ConfigurableApplicationContext ctx, int seconds) throws Exception {
        TransformerLM model = ctx.getBean(TransformerLM.class);
        Scheduler scheduler = ctx.getBean(Scheduler.class);
        MeterRegistry registry = ctx.getBean(MeterRegistry.class);
        for (int i = 0; i < 16; i++) {
            upload("s" + i, BenchBundles.loreft(500 + i, 288, 6, new int[] {1, 2, 3, 4}, 4, "f5+l5"));
        }
        int warm = Math.min(60, seconds / 5);
        ExecutorService pool = Executors.newFixedThreadPool(16);
        AtomicBoolean stop = new AtomicBoolean();
        List<Future<?>> fs = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
            int client = c;
            fs.add(pool.submit(() -> {
                int i = client;
                while (!stop.get()) {
                    String m = (i % 2 == 0) ? "stories15M" : "s" + client;
                    HttpResponse<InputStream> r = http.send(completion(m, PROMPTS.get(i++ % PROMPTS.size()), true),
                            HttpResponse.BodyHandlers.ofInputStream());
                    try (InputStream in = r.body()) {
                        in.readAllBytes();
                    }
                    if (r.statusCode() != 200) {
                        throw new IllegalStateException("status " + r.statusCode());
                    }
                }
                return null;
            }));
        }
        // Both samples are taken under the same load, so they compare like with like. Warm-up ends with one full
        // GC and 30 s of load after it: until its first full GC the JVM's heap is still sizing itself (here it
        // gave back about 170 MB of resident memory at that GC).
        Thread.sleep(warm * 1000L);
        System.gc();
        Thread.sleep(30_000L);
        double tokensWarm = generatedTokens.getAsDouble();
        Sample atWarm = sample(model, scheduler);
        // Resident memory every 30 s in between, to show the trajectory rather than two points.
        List<Double> rssSeries = new ArrayList<>();
        long end = System.nanoTime() + (seconds - warm - 30) * 1_000_000_000L;
        while (System.nanoTime() < end) {
            Thread.sleep(Math.min(30_000L, Math.max(1, (end - System.nanoTime()) / 1_000_000)));
            rssSeries.add(rssKb() / 1024.0);
        }
        Sample atEnd = sample(model, scheduler);
        double tokens = generatedTokens.getAsDouble() - tokensWarm;
        stop.set(true);
        joinAll(pool, fs);
        int idleArrays = model.liveArrays() + scheduler.liveStepArrays();
        return String.format(Locale.ROOT, "{\"soak_s\":%d,\"warmup_s\":%d,\"streams\":16,"
                        + "\"tokens_after_warmup\":%.0f,\"requests_finished\":%.0f,"
                        + "\"rss_mb_after_warmup\":%.1f,\"rss_mb_end\":%.1f,\"rss_change_pct\":%.2f,"
                        + "\"live_ndarrays_floor_after_warmup\":%d,\"live_ndarrays_floor_end\":%d,"
                        + "\"live_ndarrays_idle_after_stop\":%d,"
                        + "\"heap_mb_after_warmup\":%.1f,\"heap_mb_end\":%.1f,\"rss_mb_every_30s\":%s}",
                seconds, warm + 30, tokens, registry.get("reft.rows.finished").counters().stream()
                        .mapToDouble(c -> c.count()).sum(), atWarm.rssKb / 1024.0, atEnd.rssKb / 1024.0,
                100.0 * (atEnd.rssKb - atWarm.rssKb) / atWarm.rssKb, atWarm.arraysFloor, atEnd.arraysFloor,
                idleArrays, atWarm.heapBytes / 1048576.0, atEnd.heapBytes / 1048576.0, json(rssSeries));
    }

    private record Sample(long rssKb, int arraysFloor, long heapBytes) {
    }

    /**
     * Resident memory, heap after a GC, and the floor of live NDArrays over 2 s of samples: the count moves
     * with each step's temporaries, its floor is what persists (weights, cache, bundles), which a leak raises.
     */
    private static Sample sample(TransformerLM model, Scheduler scheduler) throws Exception {
        int floor = Integer.MAX_VALUE;
        for (int i = 0; i < 100; i++) {
            floor = Math.min(floor, model.liveArrays() + scheduler.liveStepArrays());
            Thread.sleep(20);
        }
        // Resident memory before the forced GC: a full GC briefly touches extra memory (about 200 MB here).
        long rss = rssKb();
        System.gc();
        long heap = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
        return new Sample(rss, floor, heap);
    }

    private static long rssKb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D+", ""));
            }
        }
        return -1;
    }
}

package dev.reftserver.bench;

import dev.reftserver.ReftServerApplication;
import dev.reftserver.engine.DeviceTimeShare;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import dev.reftserver.training.TrainingRun;
import dev.reftserver.training.TrainingSettings;
import io.micrometer.core.instrument.MeterRegistry;
import java.lang.management.ManagementFactory;
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
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Training beside serving, every figure from one run on one machine. (1) Training steps/s on the training
 * reference's protocol (stories15M, LoReFT at layer 3 from the reference's init bundle, 8 examples in one batch,
 * lr 4e-3 linear over 30 updates, clip 1.0), against pyreft's median on this protocol from the reference README
 * (1.84 steps/s). (2) Through the real HTTP API at {@code reft.training.max-share} (default 0.25): generated
 * tokens/s and time to first token at 16 concurrent streaming clients without a job, then with a fine-tuning job
 * training, then without again. Prints one JSON object. Command: see docs/benchmarks.md.
 */
public final class TrainingBenchmark {

    /** pyreft's own speed on this protocol (reference/training/README.md, "Timing"). */
    static final double PYREFT_STEPS_PER_S = 1.84;

    static final String REF = "reference/training/loreft-l1/";

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>();
        for (String a : args) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            opt.put(kv[0], kv.length > 1 ? kv[1] : "true");
        }
        int seconds = Integer.parseInt(opt.getOrDefault("duration", "15"));
        int runs = Integer.parseInt(opt.getOrDefault("runs", "3"));
        String share = opt.getOrDefault("max-share", "0.25");
        List<Double> stepsPerS = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            stepsPerS.add(referenceProtocol());
        }
        double median = stepsPerS.stream().sorted().toList().get(runs / 2);

        Path store = Files.createTempDirectory("reft-bench-training");
        ConfigurableApplicationContext ctx = new SpringApplicationBuilder(ReftServerApplication.class)
                .run("--server.port=0", "--reft.store.path=" + store, "--reft.engine.max-batch-size=32",
                        "--reft.engine.max-queue=4096", "--reft.training.max-share=" + share,
                        "--logging.level.root=WARN", "--logging.level.dev.reftserver=WARN");
        String serving;
        try {
            serving = serving(ctx, Duration.ofSeconds(seconds));
        } finally {
            ctx.close();
        }
        System.out.println(String.format(Locale.ROOT, "{\"load_average_1m_at_start\":%.2f,"
                        + "\"training_steps_per_s\":%s,\"training_steps_per_s_median\":%.3f,"
                        + "\"pyreft_steps_per_s\":%.2f,\"ratio_over_pyreft\":%.3f,\"max_share\":%s,%s}",
                LOAD_AT_START, stepsPerS, median, PYREFT_STEPS_PER_S, median / PYREFT_STEPS_PER_S, share, serving));
    }

    static final double LOAD_AT_START = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();

    /** 30 updates of the reference protocol (after 3 untimed warm-up updates on a separate run); steps/s. */
    static double referenceProtocol() throws Exception {
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32")) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            byte[] bundle = Files.readAllBytes(ReferenceFiles.resource(REF + "init/bundle.zip"));
            List<String[]> data = new ArrayList<>();
            for (String line : Files.readString(ReferenceFiles.resource(REF + "data.jsonl")).split("\n")) {
                if (!line.isBlank()) {
                    var o = com.google.gson.JsonParser.parseString(line).getAsJsonObject();
                    data.add(new String[] {o.get("prompt").getAsString(), o.get("completion").getAsString()});
                }
            }
            TrainingSettings settings = new TrainingSettings(4e-3, 0.0, 30, 0, 1.0, 8, false, 0);
            try (TrainingRun warm = TrainingRun.start(model, tokenizer,
                    BundleContents.read(bundle, model.config().shape(), BundleLimits.defaults()), data, settings)) {
                for (int i = 0; i < 3; i++) {
                    warm.step();
                }
            }
            try (TrainingRun run = TrainingRun.start(model, tokenizer,
                    BundleContents.read(bundle, model.config().shape(), BundleLimits.defaults()), data, settings)) {
                long t0 = System.nanoTime();
                while (!run.finished()) {
                    run.step();
                }
                return 30 / ((System.nanoTime() - t0) / 1e9);
            }
        }
    }


    /** 16 streaming clients without a job, with one training, and without again. */
    static String serving(ConfigurableApplicationContext ctx, Duration d) throws Exception {
        int port = Integer.parseInt(ctx.getEnvironment().getProperty("local.server.port"));
        MeterRegistry registry = ctx.getBean(MeterRegistry.class);
        DeviceTimeShare gate = ctx.getBean(DeviceTimeShare.class);
        ServingBenchmark b = new ServingBenchmark(port, 64, () -> registry.get("reft.generated.tokens").counter()
                .count());
        b.run(16, Duration.ofSeconds(5), c -> "stories15M"); // warm-up
        HttpClient http = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + port;

        double[] before = window(b, registry, d);
        String fileId = field(post(http, base + "/v1/files", Files.readAllBytes(ReferenceFiles.resource(REF
                + "data.jsonl"))), "id");
        String job = field(json(http, base + "/v1/fine_tuning/jobs", """
                {"model": "stories15M", "training_file": "%s", "method": {"type": "reft", "reft": {"hyperparameters":
                 {"layers": [3], "rank": 4, "positions": "f1+l1", "batch_size": 8, "max_steps": 10000}}}}"""
                .formatted(fileId)), "id");
        int steps0 = stepsDone(http, base, job);
        long t0 = System.nanoTime();
        double[] with = window(b, registry, d);
        double trainSeconds = (System.nanoTime() - t0) / 1e9;
        int steps1 = stepsDone(http, base, job);
        double shareSeen = gate.trainingShare();
        json(http, base + "/v1/fine_tuning/jobs/" + job + "/cancel", "");
        Thread.sleep(2000); // the job stops within one step
        double[] after = window(b, registry, d);
        double baseTput = (before[0] + after[0]) / 2;
        double baseP99 = (before[2] + after[2]) / 2;
        return String.format(Locale.ROOT, "\"c16_streaming\":{\"window_s\":%d,"
                        + "\"without_job_before\":{\"tokens_per_s\":%.1f,\"ttft_p50_ms\":%.1f,\"ttft_p99_ms\":%.1f},"
                        + "\"with_job\":{\"tokens_per_s\":%.1f,\"ttft_p50_ms\":%.1f,\"ttft_p99_ms\":%.1f,"
                        + "\"training_steps_per_s\":%.3f,\"training_share_at_end\":%.3f},"
                        + "\"without_job_after\":{\"tokens_per_s\":%.1f,\"ttft_p50_ms\":%.1f,\"ttft_p99_ms\":%.1f},"
                        + "\"throughput_with_over_without\":%.3f,\"ttft_p99_with_over_without\":%.3f}",
                d.toSeconds(), before[0], before[1], before[2], with[0], with[1], with[2],
                (steps1 - steps0) / trainSeconds, shareSeen, after[0], after[1], after[2], with[0] / baseTput,
                with[2] / baseP99);
    }

    /** {tokens/s, ttft p50, ttft p99} of 16 streaming clients over {@code d} (ramp and drain included). */
    static double[] window(ServingBenchmark b, MeterRegistry registry, Duration d) throws Exception {
        double tokens = registry.get("reft.generated.tokens").counter().count();
        long t0 = System.nanoTime();
        double[] ttft = b.ttft(16, d);
        double s = (System.nanoTime() - t0) / 1e9;
        return new double[] {(registry.get("reft.generated.tokens").counter().count() - tokens) / s, ttft[0],
                ttft[1]};
    }

    static int stepsDone(HttpClient http, String base, String job) throws Exception {
        String events = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/fine_tuning/jobs/" + job
                + "/events?limit=1")).build(), HttpResponse.BodyHandlers.ofString()).body();
        Matcher m = Pattern.compile("\"step\":(\\d+)").matcher(events);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    static String post(HttpClient http, String url, byte[] jsonl) throws Exception {
        String boundary = UUID.randomUUID().toString();
        var body = new java.io.ByteArrayOutputStream();
        body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n")
                .getBytes(StandardCharsets.UTF_8));
        body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.jsonl\""
                + "\r\nContent-Type: application/jsonl\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.write(jsonl);
        body.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return check(http.send(HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(),
                HttpResponse.BodyHandlers.ofString()));
    }

    static String json(HttpClient http, String url, String body) throws Exception {
        return check(http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
    }

    static String check(HttpResponse<String> r) {
        if (r.statusCode() != 200) {
            throw new IllegalStateException(r.uri() + ": " + r.statusCode() + " " + r.body());
        }
        return r.body();
    }

    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":\"([^\"]+)\"").matcher(json);
        if (!m.find()) {
            throw new IllegalStateException("no " + name + " in " + json);
        }
        return m.group(1);
    }
}

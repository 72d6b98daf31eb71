package dev.reftserver.bench;

import dev.reftserver.intervention.UploadFixtures;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Sends hostile inputs, by class, to a server in its own process (the packaged server's classes, two tenants, an
 * admin key, small quotas) and counts per class: inputs tried, 5xx answers, health breaks (liveness and
 * readiness polled every 250 ms on the serving port), the slowest rejection, and the server process's peak
 * resident memory ({@code VmHWM}) after the class. Classes: completion JSON bodies (seeded mutations plus the
 * concrete cases that once broke the server), multipart framing, per-tenant quotas, and hostile bundle zips built
 * here (zip bomb, zip slip, overlapping safetensors ranges, pickles with a foreign global or a shared tuple DAG).
 * After each class a normal completion must still be served. Prints a table and one JSON line.
 *
 * <pre>
 * java -cp $CP dev.reftserver.bench.HostileInputProbe [--seed=N] [--json-tries=100] [--heap=1536m]
 * java -cp $CP dev.reftserver.bench.HostileInputProbe --url=http://host:8080 --admin-key=K --pid=PID
 * </pre>
 * The second form targets a running server (its quotas must be at least as small as the ones below for the
 * quota class to reach them).
 */
public final class HostileInputProbe {

    static final int INTERVENTIONS = 4;
    static final int VERSIONS = 3;
    static final int TASKS = 3;
    static final int ROUTES = 8;
    static final int CONCURRENT = 4;
    static final String STORED_BYTES = "2MB";
    /** Linux's USER_HZ, the unit of /proc/PID/stat's CPU times, on every common platform. */
    static final long CLOCK_TICKS_PER_SECOND = 100;

    /** One class's counts. */
    static final class Stats {
        final String name;
        int tried;
        int fiveXx;
        int twoXx;
        int fourXx;
        int closed;
        int healthBreaks;
        long slowestRejectionMs;
        String slowestWhat = "";
        /** The server process's CPU time (user + system) over the costliest refused upload, -1 if none. */
        long uploadRejectionCpuMs = -1;
        String costliestUpload = "";
        long vmHwmKb;
        boolean servesAfter;
        final List<String> fiveXxInputs = new ArrayList<>();

        Stats(String name) {
            this.name = name;
        }
    }

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;
    private final String adminKey;
    private final long pid;
    private final AtomicReference<Stats> current = new AtomicReference<>();

    HostileInputProbe(String base, String adminKey, long pid) {
        this.base = base;
        this.adminKey = adminKey;
        this.pid = pid;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>();
        for (String a : args) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            opt.put(kv[0], kv.length > 1 ? kv[1] : "true");
        }
        long seed = Long.parseLong(opt.getOrDefault("seed", "20261206"));
        int jsonTries = Integer.parseInt(opt.getOrDefault("json-tries", "100"));
        Process server = null;
        String url = opt.get("url");
        String adminKey = opt.getOrDefault("admin-key", "probe-admin-key");
        long pid = Long.parseLong(opt.getOrDefault("pid", "0"));
        Path store = null;
        if (url == null) {
            store = Files.createTempDirectory("reft-probe-store");
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            Path log = Files.createTempFile("reft-probe-server", ".log");
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                            .toString(), "-Xmx" + opt.getOrDefault("heap", "1536m"), "-cp",
                    System.getProperty("java.class.path"), "dev.reftserver.ReftServerApplication",
                    "--server.port=" + port, "--reft.store.path=" + store, "--reft.security.admin-key=" + adminKey,
                    "--reft.quotas.interventions=" + INTERVENTIONS,
                    "--reft.quotas.versions-per-intervention=" + VERSIONS,
                    "--reft.quotas.tasks=" + TASKS, "--reft.quotas.routes-per-task=" + ROUTES,
                    "--reft.quotas.concurrent-requests=" + CONCURRENT, "--reft.quotas.stored-bytes=" + STORED_BYTES,
                    "--logging.level.root=WARN"));
            server = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            pid = server.pid();
            url = "http://127.0.0.1:" + port;
            System.err.println("server pid " + pid + " on " + url + ", log " + log);
        }
        try {
            HostileInputProbe probe = new HostileInputProbe(url, adminKey, pid);
            probe.awaitReady(Duration.ofMinutes(4));
            List<Stats> results = probe.run(seed, jsonTries);
            probe.print(results);
        } finally {
            if (server != null) {
                server.destroy();
                server.waitFor();
            }
        }
    }

    private List<Stats> run(long seed, int jsonTries) throws Exception {
        String keyA = newTenant("probe-a");
        String keyB = newTenant("probe-b");
        AtomicBoolean polling = new AtomicBoolean(true);
        Thread poller = new Thread(() -> pollHealth(polling), "health-poller");
        poller.setDaemon(true);
        poller.start();
        List<Stats> results = new ArrayList<>();
        try {
            results.add(inClass("completions_json", () -> completions(keyA, new Random(seed), jsonTries), keyB));
            results.add(inClass("multipart", () -> multipart(keyA, new Random(seed + 1)), keyB));
            results.add(inClass("quotas", () -> quotas(keyA, keyB), keyB));
            results.add(inClass("bundles", () -> bundles(keyB), keyA));
        } finally {
            polling.set(false);
            poller.join(2000);
        }
        return results;
    }

    private interface Body {
        void run() throws Exception;
    }

    private Stats inClass(String name, Body body, String servingKey) throws Exception {
        Stats s = new Stats(name);
        current.set(s);
        body.run();
        // Health is still polled while the class's last answers drain.
        Thread.sleep(500);
        current.set(null);
        HttpResponse<String> normal = completion(servingKey,
                "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}");
        s.servesAfter = normal != null && normal.statusCode() == 200;
        s.vmHwmKb = vmHwmKb();
        return s;
    }

    // ---- classes

    private void completions(String key, Random random, int tries) {
        String[] fields = {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "stop", "stream",
            "seed", "n", "intervention", "best_of", "unknown"};
        String[] values = {"null", "true", "-1", "0", "2147483648", "1073741825", "9223372036854775808", "1e309",
            "NaN", "\"\"", "\"\\u0000\"", "[]", "[\"a\",\"b\",\"c\",\"d\"]", "{}", "0.5", "\"x@1\"", "2", "16"};
        for (int i = 0; i < tries; i++) {
            String body = "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":2";
            StringBuilder what = new StringBuilder();
            for (int k = 0; k < 1 + random.nextInt(3); k++) {
                String field = fields[random.nextInt(fields.length)];
                String value = switch (random.nextInt(6)) {
                    case 0 -> "[".repeat(1 + random.nextInt(50_000)) + "]";
                    case 1 -> "\"" + "a".repeat(1 + random.nextInt(2_000_000)) + "\"";
                    default -> values[random.nextInt(values.length)];
                };
                what.append(field).append('=').append(value, 0, Math.min(20, value.length())).append(' ');
                body += ",\"" + field + "\":" + value;
            }
            body += random.nextInt(10) == 0 ? "" : "}";
            String type = random.nextInt(8) == 0 ? "text/plain" : "application/json";
            send(what.toString(), "POST", "/v1/completions", key, type, body.getBytes(StandardCharsets.UTF_8),
                    random.nextInt(5) == 0);
        }
        // The concrete cases that once took the server down or answered 500.
        json("n wraps in int", key, "{\"model\":\"stories15M\",\"prompt\":[\"a\",\"b\",\"c\",\"d\"],"
                + "\"n\":1073741825,\"max_tokens\":2}");
        json("n x prompts negative in int", key, "{\"model\":\"stories15M\",\"prompt\":[\"a\",\"b\"],"
                + "\"n\":1073741824,\"max_tokens\":2}");
        String eightMb = "{\"model\":\"stories15M\",\"prompt\":\"" + "a".repeat(8 << 20) + "\"}";
        json("8 MB prompt", key, eightMb);
        send("8 MB prompt chunked", "POST", "/v1/completions", key, "application/json",
                eightMb.getBytes(StandardCharsets.UTF_8), true);
        json("3 MB prompt", key, "{\"model\":\"stories15M\",\"prompt\":\"" + "a b ".repeat(750_000) + "\"}");
    }

    private void multipart(String key, Random random) {
        for (int i = 0; i < 40; i++) {
            String boundary = "b" + random.nextInt(1_000_000);
            String type = "multipart/form-data; boundary=" + boundary;
            String fileName = "x.zip";
            String what = "mutation " + (i % 10);
            switch (i % 10) {
                case 0 -> type = "multipart/form-data";
                case 1 -> type = "multipart/form-data; boundary=";
                case 2 -> fileName = "a\u0000b.zip";
                case 3 -> type = "multipart/form-data; boundary=" + "z".repeat(10_000);
                case 4 -> fileName = "../../" + "x".repeat(5000);
                case 5 -> type = "multipart/mixed; boundary=" + boundary;
                default -> {
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\""
                    + fileName + "\"\r\nContent-Type: application/zip\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.writeBytes(UploadFixtures.zip(Map.of("reft.json", "{}".getBytes(StandardCharsets.UTF_8))));
            out.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.ISO_8859_1));
            byte[] body = out.toByteArray();
            if (i % 10 == 6) {
                body = java.util.Arrays.copyOf(body, random.nextInt(body.length));
            } else if (i % 10 == 7) {
                for (int k = 0; k < 10; k++) {
                    body[random.nextInt(body.length)] = (byte) random.nextInt(256);
                }
            } else if (i % 10 == 8) {
                body = ("--" + boundary + "\r\n" + "X-Junk: " + "y".repeat(100_000) + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1);
            }
            send(what, "POST", "/v1/interventions", key, type, body, i % 10 == 9);
        }
    }

    private void quotas(String keyA, String keyB) throws Exception {
        for (int i = 0; i <= INTERVENTIONS + 1; i++) {
            upload("intervention " + i, keyA, "q" + i, BenchBundles.loreft(i, 288, 6, new int[] {1}, 4, "f1+l1"));
        }
        for (int v = 0; v <= VERSIONS; v++) {
            upload("version " + v, keyA, "q0", BenchBundles.loreft(100 + v, 288, 6, new int[] {1}, 4, "f1+l1"));
        }
        for (int t = 0; t <= TASKS + 1; t++) {
            send("task " + t, "PUT", "/v1/tasks/t" + t, keyA, "application/json",
                    "{\"intervention\":\"q0\"}".getBytes(StandardCharsets.UTF_8), false);
        }
        StringBuilder routes = new StringBuilder("{\"routes\":[");
        for (int r = 0; r <= ROUTES; r++) {
            routes.append(r == 0 ? "" : ",").append("{\"intervention\":\"q0@1\",\"weight\":1}");
        }
        send(ROUTES + 1 + " routes", "PUT", "/v1/tasks/t0", keyA, "application/json",
                routes.append("]}").toString().getBytes(StandardCharsets.UTF_8), false);
        StringBuilder many = new StringBuilder("{\"routes\":[");
        for (int r = 0; r < 200_000; r++) {
            many.append(r == 0 ? "" : ",").append("{\"intervention\":\"q0@1\",\"weight\":1}");
        }
        for (int t = 0; t < 5; t++) {
            send("200000 routes", "PUT", "/v1/tasks/t" + t, keyA, "application/json",
                    many.toString().concat("]}").getBytes(StandardCharsets.UTF_8), true);
        }
        // One tenant floods past its in-flight limit while the other is served.
        ExecutorService pool = Executors.newFixedThreadPool(CONCURRENT * 6);
        try {
            List<Future<?>> flood = new ArrayList<>();
            for (int c = 0; c < CONCURRENT * 6; c++) {
                flood.add(pool.submit(() -> json("in-flight flood", keyA, "{\"model\":\"stories15M\","
                        + "\"prompt\":\"Once upon a time\",\"max_tokens\":48,\"temperature\":0}")));
            }
            json("other tenant during flood", keyB,
                    "{\"model\":\"stories15M\",\"prompt\":\"Hello\",\"max_tokens\":4,\"temperature\":0}");
            for (Future<?> f : flood) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    private void bundles(String key) {
        upload("zip bomb (1 GiB of zeros)", key, "bomb", zipBomb(1L << 30));
        upload("zip bomb (100,000 entries)", key, "bomb", manyEntries(100_000));
        upload("zip slip", key, "slip", UploadFixtures.zip(Map.of("../../../tmp/evil.json",
                "{}".getBytes(StandardCharsets.UTF_8), "reft.json", "{}".getBytes(StandardCharsets.UTF_8))));
        upload("overlapping safetensors ranges (1,000 x 16 MiB)", key, "overlap", overlappingSafetensors(1000));
        upload("pickle with a foreign global (os.system)", key, "pickle",
                UploadFixtures.pyreftWithForeignGlobal(288, "os", "system", "touch /tmp/reft-pwned"));
        upload("pickle with a shared tuple DAG as dict key", key, "dag", tupleDagPickle(2, 24));
    }

    // ---- hostile bundles

    private static byte[] zipBomb(long zeros) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            zip.putNextEntry(new ZipEntry("reft.json"));
            zip.write("{\"format\":\"reft-bundle/1\"}".getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("weights.safetensors"));
            byte[] block = new byte[1 << 20];
            for (long w = 0; w < zeros; w += block.length) {
                zip.write(block);
            }
            zip.closeEntry();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static byte[] manyEntries(int n) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            for (int i = 0; i < n; i++) {
                zip.putNextEntry(new ZipEntry("e" + i));
                zip.closeEntry();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** A native bundle whose safetensors header names {@code n} F32 tensors over one shared 16 MiB range. */
    private static byte[] overlappingSafetensors(int n) {
        int elements = 4 << 20;
        StringBuilder header = new StringBuilder("{");
        for (int i = 0; i < n; i++) {
            header.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":{\"dtype\":\"F32\",\"shape\":[")
                    .append(elements).append("],\"data_offsets\":[0,").append(elements * 4).append("]}");
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            zip.putNextEntry(new ZipEntry("reft.json"));
            zip.write(("{\"format\":\"reft-bundle/1\",\"base_model\":{\"hidden_size\":288,\"num_layers\":6},"
                    + "\"prompt_positions\":\"f1+l1\",\"share_weights\":true,\"interventions\":[{\"layer\":1,"
                    + "\"component\":\"block_output\",\"type\":\"loreft\",\"rank\":4,\"apply_to\":\"all\","
                    + "\"act\":\"linear\",\"tensors\":{\"rotate\":\"t0\",\"weight\":\"t1\",\"bias\":\"t2\"}}]}")
                    .getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("weights.safetensors"));
            zip.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            zip.write(h);
            zip.write(new byte[elements * 4]);
            zip.closeEntry();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /**
     * A pyreft directory whose pickle sets a dict item keyed by a tuple DAG: each level is a tuple of
     * {@code width} references to the level below (memoized, so the pickle stays small while the tree it
     * stands for has width^depth leaves).
     */
    private static byte[] tupleDagPickle(int width, int depth) {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80);
        p.write(2); // PROTO 2
        p.write('}'); // EMPTY_DICT
        p.write(')'); // EMPTY_TUPLE
        p.write('q'); // BINPUT 0
        p.write(0);
        for (int level = 1; level <= depth; level++) {
            p.write('('); // MARK
            for (int w = 0; w < width; w++) {
                p.write('h'); // BINGET level - 1
                p.write(level - 1);
            }
            p.write('t'); // TUPLE
            p.write('q'); // BINPUT level
            p.write(level);
        }
        p.write('N'); // NONE
        p.write('s'); // SETITEM
        p.write('.'); // STOP
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bin)) {
            zip.putNextEntry(new ZipEntry("archive/data.pkl"));
            zip.write(p.toByteArray());
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("archive/byteorder"));
            zip.write("little".getBytes(StandardCharsets.US_ASCII));
            zip.closeEntry();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        byte[] foreign = UploadFixtures.pyreftWithForeignGlobal(288, "os", "system", "true");
        // Same directory layout as a real save: config.json and the intervention's .bin.
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("config.json", entry(foreign, "config.json"));
        files.put(UploadFixtures.LOREFT_BIN, bin.toByteArray());
        return UploadFixtures.zip(files);
    }

    private static byte[] entry(byte[] zip, String name) {
        try (var in = new java.util.zip.ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                if (e.getName().equals(name)) {
                    return in.readAllBytes();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalStateException("no " + name);
    }

    // ---- HTTP

    private void upload(String what, String key, String name, byte[] zip) {
        String boundary = "b" + UUID.randomUUID().toString().replace("-", "");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + name
                + "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"positions\"\r\n\r\nf1+l1\r\n--"
                + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.zip\"\r\n"
                + "Content-Type: application/zip\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        out.writeBytes(zip);
        out.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        send(what, "POST", "/v1/interventions", key, "multipart/form-data; boundary=" + boundary,
                out.toByteArray(), false);
    }

    private void json(String what, String key, String body) {
        send(what, "POST", "/v1/completions", key, "application/json", body.getBytes(StandardCharsets.UTF_8), false);
    }

    private HttpResponse<String> completion(String key, String body) {
        try {
            return http.send(request("/v1/completions", key).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException | InterruptedException e) {
            return null;
        }
    }

    /** Sends one input and counts its answer in the current class. */
    private void send(String what, String method, String path, String key, String type, byte[] body,
            boolean chunked) {
        Stats s = current.get();
        HttpRequest.Builder b = request(path, key);
        if (type != null) {
            b.header("Content-Type", type);
        }
        b.method(method, chunked ? HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))
                : HttpRequest.BodyPublishers.ofByteArray(body));
        boolean upload = method.equals("POST") && path.startsWith("/v1/interventions");
        long cpu0 = upload ? serverCpuMs() : -1;
        long t0 = System.nanoTime();
        int status;
        try {
            status = http.send(b.build(), HttpResponse.BodyHandlers.ofString()).statusCode();
        } catch (IOException e) {
            status = -1; // the server closed the connection (an oversized body it refused early)
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        synchronized (s) {
            s.tried++;
            if (status >= 500) {
                s.fiveXx++;
                s.fiveXxInputs.add(what + " -> " + status);
            } else if (status >= 400 || status < 0) {
                if (status < 0) {
                    s.closed++;
                } else {
                    s.fourXx++;
                }
                if (ms > s.slowestRejectionMs) {
                    s.slowestRejectionMs = ms;
                    s.slowestWhat = what.length() > 60 ? what.substring(0, 60) : what;
                }
                long cpu = cpu0 < 0 ? -1 : serverCpuMs() - cpu0;
                if (cpu0 >= 0 && cpu > s.uploadRejectionCpuMs) {
                    // Inputs of a class are sent one at a time, so the server's CPU over the request is its cost
                    // (plus the health probes' few milliseconds): an upper bound at the clock tick's 10 ms.
                    s.uploadRejectionCpuMs = cpu;
                    s.costliestUpload = what.length() > 60 ? what.substring(0, 60) : what;
                }
            } else {
                s.twoXx++;
            }
        }
    }

    private HttpRequest.Builder request(String path, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(3));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return b;
    }

    private String newTenant(String prefix) {
        String name = prefix + "-" + UUID.randomUUID().toString().substring(0, 6);
        try {
            HttpResponse<String> r = http.send(request("/admin/tenants", adminKey)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"" + name + "\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 201) {
                throw new IllegalStateException("cannot create tenant: " + r.body());
            }
            return r.body().replaceFirst(".*\"api_key\"\\s*:\\s*\"([^\"]+)\".*", "$1");
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private void awaitReady(Duration max) throws InterruptedException {
        long end = System.nanoTime() + max.toNanos();
        while (System.nanoTime() < end) {
            if (healthy("/readyz")) {
                return;
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("server not ready within " + max);
    }

    private void pollHealth(AtomicBoolean polling) {
        HttpClient probes = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        while (polling.get()) {
            Stats s = current.get();
            for (String path : List.of("/livez", "/readyz")) {
                boolean ok;
                try {
                    ok = probes.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(5))
                            .build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
                } catch (IOException | InterruptedException e) {
                    ok = false;
                }
                if (!ok && s != null) {
                    synchronized (s) {
                        s.healthBreaks++;
                    }
                }
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private boolean healthy(String path) {
        try {
            return http.send(request(path, null).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** User + system CPU time of the server process so far ({@code /proc/PID/stat} fields 14 and 15), or -1. */
    private long serverCpuMs() {
        if (pid <= 0) {
            return -1;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // Fields after the command name, which is in parentheses and may hold spaces.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
            return ticks * 1000 / CLOCK_TICKS_PER_SECOND;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private long vmHwmKb() {
        if (pid <= 0) {
            return -1;
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    private void print(List<Stats> results) {
        System.out.println("| class | inputs | 2xx | 4xx | closed early | 5xx | health breaks | slowest rejection "
                + "| server CPU of the costliest refused upload | serves after | peak RSS (VmHWM) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        StringBuilder json = new StringBuilder("{");
        for (Stats s : results) {
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %d | %d | %d | %d ms (%s) | %s | %s | %d MB |%n",
                    s.name, s.tried, s.twoXx, s.fourXx, s.closed, s.fiveXx, s.healthBreaks, s.slowestRejectionMs,
                    s.slowestWhat.trim(), s.uploadRejectionCpuMs < 0 ? "-"
                            : s.uploadRejectionCpuMs + " ms (" + s.costliestUpload.trim() + ")",
                    s.servesAfter ? "yes" : "NO", s.vmHwmKb / 1024);
            json.append(json.length() > 1 ? "," : "").append(String.format(Locale.ROOT,
                    "\"%s\":{\"inputs\":%d,\"5xx\":%d,\"health_breaks\":%d,\"slowest_rejection_ms\":%d,"
                            + "\"upload_rejection_cpu_ms_max\":%d,\"serves_after\":%b,\"vm_hwm_mb\":%d}", s.name,
                    s.tried, s.fiveXx, s.healthBreaks, s.slowestRejectionMs, s.uploadRejectionCpuMs, s.servesAfter,
                    s.vmHwmKb / 1024));
        }
        System.out.println(json.append('}'));
        for (Stats s : results) {
            for (String f : s.fiveXxInputs) {
                System.out.println("5xx in " + s.name + ": " + f);
            }
        }
    }
}

package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.node.ObjectNode;

/**
 * Seeded, bounded hostile-input runs over HTTP: valid completion bodies and multipart uploads mutated at random
 * (wrong types, huge, negative and overflowing numbers, deep nesting, huge strings, unknown fields, NaN, nulls,
 * broken syntax, wrong content types, broken multipart framing). Every answer is a 4xx in the API's error shape,
 * or a 2xx where the mutation left the request valid; never a 5xx. A normal completion works afterwards. The seed
 * is fixed, so a failure replays exactly; each failure message carries the input.
 */
class HostileInputFuzzTest extends HostileInputTestSupport {

    private static final long SEED = 20261206L;
    private static final int JSON_TRIES = 100;
    private static final int MULTIPART_TRIES = 30;

    private static final String[] FIELDS = {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "stop",
        "stream", "stream_options", "seed", "n", "user", "intervention", "logprobs", "echo", "best_of",
        "presence_penalty", "frequency_penalty", "suffix", "unknown_field", "prompt"};

    /** Raw JSON values, valid and hostile, that a field may be set to. */
    private static final String[] VALUES = {"null", "true", "false", "0", "1", "2", "-1", "-2147483649",
        "2147483647", "2147483648", "1073741825", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1e309", "-1e309", "1e-400", "0.5", "3.7", "NaN", "Infinity", "-Infinity",
        "\"\"", "\"stories15M\"", "\"a\"", "\"\\u0000\"", "\"\\ud800\"", "\"caf\\u00e9 \\ud83d\\ude00\"", "[]",
        "[\"a\",\"b\"]", "[1,2,3]", "[null]", "{}", "{\"include_usage\":true}", "{\"a\":{\"b\":{}}}",
        "\"x@1\"", "\"stories15M@99999999999\"", "\"../../etc/passwd\"", "12345678901234567890123456789"};

    @Test
    void mutatedCompletionBodiesNeverGetA5xx() {
        String key = newTenant("fuzz-json");
        Random random = new Random(SEED);
        List<String> failures = new ArrayList<>();
        int twoHundreds = 0;
        for (int i = 0; i < JSON_TRIES; i++) {
            Mutation m = jsonMutation(random);
            HttpResponse<String> r = send("POST", "/v1/completions", key, m.contentType(), m.body(), false);
            String problem = problem(r);
            if (problem != null) {
                failures.add("try " + i + " (" + m.what() + "): " + problem);
            }
            if (r.statusCode() / 100 == 2) {
                twoHundreds++;
            }
        }
        assertThat(failures).isEmpty();
        // Some mutations stay valid and are served: the suite also sees the success path.
        assertThat(twoHundreds).isBetween(1, JSON_TRIES - 1);
        assertStillServing(key);
    }

    @Test
    void mutatedMultipartUploadsNeverGetA5xx() {
        String key = newTenant("fuzz-multipart");
        Random random = new Random(SEED + 1);
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < MULTIPART_TRIES; i++) {
            Mutation m = multipartMutation(random);
            HttpResponse<String> r = send("POST", "/v1/interventions", key, m.contentType(), m.body(),
                    random.nextInt(4) == 0);
            String problem = problem(r);
            if (problem != null) {
                failures.add("try " + i + " (" + m.what() + "): " + problem);
            }
        }
        assertThat(failures).isEmpty();
        assertStillServing(key);
    }

    /** What is wrong with an answer, or {@code null}. */
    private String problem(HttpResponse<String> r) {
        int s = r.statusCode();
        if (s >= 500 || s < 200 || (s >= 300 && s < 400)) {
            return "status " + s + ": " + abbreviate(r.body());
        }
        if (s >= 400) {
            try {
                assertErrorShape(r);
            } catch (AssertionError | RuntimeException e) {
                return "status " + s + " without the error shape: " + abbreviate(r.body());
            }
        }
        return null;
    }

    private static String abbreviate(String s) {
        return s.length() > 300 ? s.substring(0, 300) + "..." : s;
    }

    record Mutation(String what, String contentType, byte[] body) {
    }

    // ---- completion bodies

    private Mutation jsonMutation(Random random) {
        ObjectNode valid = json.createObjectNode();
        valid.put("model", BASE_MODEL);
        valid.put("prompt", "Once upon a time");
        valid.put("max_tokens", 2);
        valid.put("temperature", 0);
        String body = json.writeValueAsString(valid);
        StringBuilder what = new StringBuilder();
        int mutations = 1 + random.nextInt(3);
        for (int k = 0; k < mutations; k++) {
            Function<String, String> op;
            switch (random.nextInt(10)) {
                case 0, 1, 2, 3 -> {
                    String field = FIELDS[random.nextInt(FIELDS.length)];
                    String value = VALUES[random.nextInt(VALUES.length)];
                    what.append("set ").append(field).append('=').append(value).append("; ");
                    op = b -> setField(b, field, value);
                }
                case 4 -> {
                    String field = FIELDS[random.nextInt(FIELDS.length)];
                    int depth = 1 + random.nextInt(5000);
                    what.append("nest ").append(field).append(" depth ").append(depth).append("; ");
                    op = b -> setField(b, field, "[".repeat(depth) + "]".repeat(depth));
                }
                case 5 -> {
                    String field = random.nextBoolean() ? "prompt" : FIELDS[random.nextInt(FIELDS.length)];
                    int length = 1 + random.nextInt(3_000_000);
                    what.append("string ").append(field).append(" of ").append(length).append("; ");
                    op = b -> setField(b, field, "\"" + "ab\\u00e9 ".repeat(length / 9 + 1) + "\"");
                }
                case 6 -> {
                    int cut = random.nextInt(body.length() + 1);
                    what.append("truncate at ").append(cut).append("; ");
                    op = b -> b.substring(0, Math.min(cut, b.length()));
                }
                case 7 -> {
                    String junk = VALUES[random.nextInt(VALUES.length)];
                    what.append("whole body ").append(junk).append("; ");
                    op = b -> junk;
                }
                case 8 -> {
                    int n = 1 + random.nextInt(2000);
                    what.append(n).append(" unknown fields; ");
                    op = b -> {
                        StringBuilder sb = new StringBuilder(b.substring(0, b.length() - 1));
                        for (int f = 0; f < n; f++) {
                            sb.append(",\"x").append(f).append("\":").append(f);
                        }
                        return sb.append('}').toString();
                    };
                }
                default -> {
                    String field = FIELDS[random.nextInt(FIELDS.length)];
                    what.append("drop ").append(field).append("; ");
                    op = b -> b.replaceFirst("\"" + field + "\":[^,}]*,?", "");
                }
            }
            body = op.apply(body);
        }
        String[] types = {"application/json", "application/json", "application/json", "application/json",
            "application/json; charset=utf-16", "text/plain", "application/xml", null, "multipart/form-data",
            "application/x-www-form-urlencoded", "application/json; charset=nonsense"};
        String type = types[random.nextInt(types.length)];
        what.append("content type ").append(type);
        return new Mutation(what.toString(), type, body.getBytes(StandardCharsets.UTF_8));
    }

    /** Sets a top-level field of a JSON object text to a raw value by text surgery, so invalid JSON can result. */
    private static String setField(String body, String field, String raw) {
        String trimmed = body.trim();
        if (!trimmed.startsWith("{") || !trimmed.endsWith("}")) {
            return body; // an earlier mutation broke the object; keep its brokenness
        }
        String inner = trimmed.substring(1, trimmed.length() - 1);
        return "{" + inner + (inner.isBlank() ? "" : ",") + "\"" + field + "\":" + raw + "}";
    }

    // ---- multipart uploads

    private Mutation multipartMutation(Random random) {
        String boundary = "bnd" + random.nextInt(1_000_000);
        String fileName = "bundle.zip";
        byte[] zip = Http.zip("x" + random.nextInt());
        String name = "n" + random.nextInt(10);
        String partType = "application/zip";
        String extraField = "";
        String contentType = "multipart/form-data; boundary=" + boundary;
        StringBuilder what = new StringBuilder();
        int choice = random.nextInt(14);
        switch (choice) {
            case 0 -> contentType = "multipart/form-data";
            case 1 -> contentType = "multipart/form-data; boundary=";
            case 2 -> contentType = "multipart/form-data; boundary=" + "z".repeat(5000);
            case 3 -> fileName = "a\u0000b.zip";
            case 4 -> fileName = "../../" + "x".repeat(3000) + ".zip";
            case 5 -> partType = "text/plain\u0000";
            case 6 -> zip = new byte[random.nextInt(100)];
            case 7 -> name = "bad@name";
            case 8 -> extraField = "share_weights=maybe";
            case 9 -> extraField = "positions=" + "f".repeat(1000);
            case 10 -> contentType = "multipart/mixed; boundary=" + boundary;
            case 11 -> name = "\u0000";
            default -> {
                // framing damaged below
            }
        }
        what.append("case ").append(choice);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        write(out, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + name + "\r\n");
        if (!extraField.isEmpty()) {
            String[] kv = extraField.split("=", 2);
            write(out, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + kv[0] + "\"\r\n\r\n"
                    + kv[1] + "\r\n");
        }
        write(out, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"" + fileName
                + "\"\r\nContent-Type: " + partType + "\r\n\r\n");
        out.writeBytes(zip);
        write(out, "\r\n--" + boundary + "--\r\n");
        byte[] body = out.toByteArray();
        if (choice == 12) {
            body = java.util.Arrays.copyOf(body, random.nextInt(body.length));
            what.append(" truncated to ").append(body.length);
        } else if (choice == 13) {
            for (int k = 0; k < 1 + random.nextInt(20); k++) {
                body[random.nextInt(body.length)] = (byte) random.nextInt(256);
            }
            what.append(" bytes flipped");
        }
        return new Mutation(what.toString(), contentType, body);
    }

    private static void write(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.ISO_8859_1));
    }
}

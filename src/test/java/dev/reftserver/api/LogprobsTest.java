package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.checkpoint.Safetensors;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code logprobs} and {@code echo} on {@code /v1/completions} against Hugging Face's log-probabilities of
 * stories15M (reference/chat/stories15m-logprobs.*), and the request lm-evaluation-harness sends to score
 * loglikelihoods, parsed as the harness parses it.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "reft.store.path=target/test-stores/completion-api")
class LogprobsTest {

    private static final double TOL = 1e-4;

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    final HttpClient http = HttpClient.newHttpClient();

    HttpResponse<String> post(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/v1/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    JsonNode ok(String body) throws Exception {
        HttpResponse<String> r = post(body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }

    List<JsonNode> prompts() {
        JsonNode ref = json.readTree(ReferenceFiles.resource("reference/chat/stories15m-logprobs.json").toFile());
        List<JsonNode> out = new ArrayList<>();
        ref.get("prompts").forEach(out::add);
        return out;
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** A reference top list {id, text, logprob} must be exactly the returned alternatives (texts and values). */
    private static void assertTop(JsonNode got, JsonNode expectedTop, String as) {
        for (JsonNode e : expectedTop) {
            String text = e.get("text").asString();
            assertThat(got.has(text)).as("%s: '%s' in %s", as, text, got).isTrue();
            assertThat(got.get(text).asDouble()).as("%s: '%s'", as, text)
                    .isCloseTo(e.get("logprob").asDouble(), within(TOL));
        }
    }

    @Test
    void greedyStepsReportTheReferenceTokensLogprobsAndTopFive() throws Exception {
        for (JsonNode p : prompts()) {
            JsonNode body = ok("{\"model\":\"stories15M\",\"prompt\":%s,\"max_tokens\":8,\"temperature\":0,\"logprobs\":5}"
                    .formatted(quote(p.get("prompt").asString())));
            JsonNode choice = body.get("choices").get(0);
            JsonNode lp = choice.get("logprobs");
            JsonNode steps = p.get("greedy_steps");
            assertThat(lp.get("tokens").size()).isEqualTo(8);
            StringBuilder joined = new StringBuilder();
            for (int s = 0; s < 8; s++) {
                JsonNode step = steps.get(s);
                String as = p.get("name").asString() + " step " + s;
                assertThat(lp.get("tokens").get(s).asString()).as(as).isEqualTo(step.get("text").asString());
                assertThat(lp.get("token_logprobs").get(s).asDouble()).as(as)
                        .isCloseTo(step.get("logprob").asDouble(), within(TOL));
                // The greedy token is the most likely one, so the top 5 already hold it: exactly 5 entries.
                assertThat(lp.get("top_logprobs").get(s).size()).as(as).isEqualTo(5);
                assertTop(lp.get("top_logprobs").get(s), step.get("top"), as);
                assertThat(lp.get("text_offset").get(s).asInt()).as(as)
                        .isEqualTo(joined.codePointCount(0, joined.length()));
                joined.append(lp.get("tokens").get(s).asString());
            }
            assertThat(joined.toString()).isEqualTo(choice.get("text").asString());
        }
    }

    @Test
    void topTwentyMatchesTheReferenceFullDistribution() throws Exception {
        Safetensors rows = ReferenceFiles.tensors("reference/chat/stories15m-logprobs.safetensors");
        for (JsonNode p : prompts()) {
            JsonNode lp = ok("{\"model\":\"stories15M\",\"prompt\":%s,\"max_tokens\":8,\"temperature\":0,\"logprobs\":20}"
                    .formatted(quote(p.get("prompt").asString()))).get("choices").get(0).get("logprobs");
            float[] all = rows.read(p.get("name").asString() + ".greedy_step_logprobs").data();
            int vocab = all.length / 8;
            for (int s = 0; s < 8; s++) {
                float[] row = Arrays.copyOfRange(all, s * vocab, (s + 1) * vocab);
                Arrays.sort(row);
                List<Double> got = new ArrayList<>();
                lp.get("top_logprobs").get(s).values().forEach(v -> got.add(v.asDouble()));
                got.sort((a, b) -> Double.compare(b, a));
                assertThat(got).hasSize(20);
                for (int k = 0; k < 20; k++) {
                    assertThat(got.get(k)).as("step %d rank %d", s, k).isCloseTo(row[vocab - 1 - k], within(TOL));
                }
            }
        }
    }

    @Test
    void echoWithZeroMaxTokensScoresEveryPromptTokenFirstNull() throws Exception {
        for (JsonNode p : prompts()) {
            JsonNode choice = ok("{\"model\":\"stories15M\",\"prompt\":%s,\"max_tokens\":0,\"temperature\":0,"
                    .formatted(quote(p.get("prompt").asString())) + "\"echo\":true,\"logprobs\":5}")
                    .get("choices").get(0);
            assertThat(choice.get("text").asString()).isEqualTo(p.get("prompt").asString());
            assertThat(choice.get("finish_reason").asString()).isEqualTo("length");
            assertPromptLogprobs(choice.get("logprobs"), p, 5);
        }
    }

    private static void assertPromptLogprobs(JsonNode lp, JsonNode p, int top) {
        assertPromptLogprobs(lp, p, top, 0);
    }

    /** The first entries are the prompt's; {@code generated} entries follow. */
    private static void assertPromptLogprobs(JsonNode lp, JsonNode p, int top, int generated) {
        JsonNode expected = p.get("prompt_logprobs");
        assertThat(lp.get("tokens").size()).isEqualTo(expected.size() + generated);
        assertThat(lp.get("token_logprobs").get(0).isNull()).isTrue();
        assertThat(lp.get("top_logprobs").get(0).isNull()).isTrue();
        int offset = 0;
        for (int i = 0; i < expected.size(); i++) {
            JsonNode e = expected.get(i);
            String as = p.get("name").asString() + " prompt token " + i;
            assertThat(lp.get("tokens").get(i).asString()).as(as).isEqualTo(e.get("text").asString());
            assertThat(lp.get("text_offset").get(i).asInt()).as(as).isEqualTo(offset);
            offset += e.get("text").asString().codePointCount(0, e.get("text").asString().length());
            if (i == 0) {
                continue;
            }
            assertThat(lp.get("token_logprobs").get(i).asDouble()).as(as)
                    .isCloseTo(e.get("logprob").asDouble(), within(TOL));
            JsonNode got = lp.get("top_logprobs").get(i);
            if (top >= 5) {
                assertTop(got, e.get("top"), as);
            }
            // The prompt's own token is always listed, so a position has top or top + 1 entries.
            // (The reference lists 5; beyond that, being outside them does not say whether it is in the top N.)
            boolean inTop = false;
            for (int k = 0; k < Math.min(top, 5); k++) {
                inTop |= e.get("top").get(k).get("id").asInt() == e.get("id").asInt();
            }
            if (inTop || top <= 5) {
                assertThat(got.size()).as(as).isEqualTo(inTop ? top : top + 1);
            } else {
                assertThat(got.size()).as(as).isBetween(top, top + 1);
            }
            assertThat(got.get(e.get("text").asString()).asDouble()).as(as)
                    .isCloseTo(e.get("logprob").asDouble(), within(TOL));
        }
    }

    /** lm-evaluation-harness's loglikelihood: sum of the continuation's logprobs and whether greedy decoding gives it. */
    private record Loglikelihood(double logprob, boolean greedy) {
    }

    /**
     * As the harness parses a choice: the entries from ctxlen to {@code end} (exclusive; negative counts from the
     * end). Its local-completions model calls a token greedy when its logprob equals the largest value in its
     * top_logprobs ({@code byValue}); its original OpenAI model compared the top entry's key with the token's text.
     */
    private static Loglikelihood parse(JsonNode lp, int ctxlen, int end, boolean byValue) {
        int to = end < 0 ? lp.get("tokens").size() + end : end;
        double sum = 0;
        boolean greedy = true;
        for (int i = ctxlen; i < to; i++) {
            double logprob = lp.get("token_logprobs").get(i).asDouble();
            sum += logprob;
            JsonNode top = lp.get("top_logprobs").get(i);
            String best = null;
            double bestValue = Double.NEGATIVE_INFINITY;
            for (Map.Entry<String, JsonNode> e : top.properties()) {
                if (e.getValue().asDouble() > bestValue) {
                    bestValue = e.getValue().asDouble();
                    best = e.getKey();
                }
            }
            greedy &= byValue ? logprob == bestValue : lp.get("tokens").get(i).asString().equals(best);
        }
        return new Loglikelihood(sum, greedy);
    }

    private static Loglikelihood expected(JsonNode p, int ctxlen) {
        JsonNode entries = p.get("prompt_logprobs");
        double sum = 0;
        boolean greedy = true;
        for (int i = ctxlen; i < entries.size(); i++) {
            sum += entries.get(i).get("logprob").asDouble();
            greedy &= entries.get(i).get("top").get(0).get("id").asInt() == entries.get(i).get("id").asInt();
        }
        return new Loglikelihood(sum, greedy);
    }

    @Test
    void lmEvaluationHarnessLoglikelihoodRequestsScoreTheContinuation() throws Exception {
        List<JsonNode> prompts = prompts();
        int ctxlen = 5;
        StringBuilder ids = new StringBuilder("[");
        for (int i = 0; i < prompts.size(); i++) {
            ids.append(i == 0 ? "" : ",").append(prompts.get(i).get("prompt_ids").toString());
        }
        ids.append("]");
        // The harness's original OpenAI body: a batch of token-id prompts, echo, logprobs 10, max_tokens 0.
        JsonNode classic = ok("{\"model\":\"stories15M\",\"prompt\":" + ids
                + ",\"echo\":true,\"max_tokens\":0,\"temperature\":0.0,\"logprobs\":10}");
        // Its local-completions body, field for field: one generated token that it drops, logprobs 1, a seed.
        JsonNode local = ok("{\"model\":\"stories15M\",\"prompt\":" + ids
                + ",\"temperature\":0,\"max_tokens\":1,\"logprobs\":1,\"seed\":1234,\"echo\":true}");
        boolean sawNotGreedy = false;
        for (int i = 0; i < prompts.size(); i++) {
            JsonNode p = prompts.get(i);
            Loglikelihood want = expected(p, ctxlen);
            sawNotGreedy |= !want.greedy();
            JsonNode a = classic.get("choices").get(i);
            assertThat(a.get("index").asInt()).isEqualTo(i);
            Loglikelihood got = parse(a.get("logprobs"), ctxlen, a.get("logprobs").get("tokens").size(), false);
            assertThat(got.logprob()).isCloseTo(want.logprob(), within(10 * TOL));
            assertThat(got.greedy()).isEqualTo(want.greedy());
            assertPromptLogprobs(a.get("logprobs"), p, 10);

            JsonNode b = local.get("choices").get(i).get("logprobs");
            assertThat(b.get("tokens").size()).isEqualTo(p.get("prompt_ids").size() + 1);
            Loglikelihood got1 = parse(b, ctxlen, -1, true);
            assertThat(got1.logprob()).isCloseTo(want.logprob(), within(10 * TOL));
            assertThat(got1.greedy()).isEqualTo(want.greedy());
            assertPromptLogprobs(b, p, 1, 1);
        }
        assertThat(sawNotGreedy).as("the references include a continuation greedy decoding would not give").isTrue();
    }

    @Test
    void streamedChunksCarryTheSameLogprobsAsOneBody() throws Exception {
        String req = "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"temperature\":0,"
                + "\"logprobs\":3,\"echo\":true%s}";
        JsonNode whole = ok(req.formatted("")).get("choices").get(0);
        HttpResponse<String> sse = post(req.formatted(",\"stream\":true"));
        assertThat(sse.statusCode()).isEqualTo(200);
        StringBuilder text = new StringBuilder();
        List<String> tokens = new ArrayList<>();
        List<Integer> offsets = new ArrayList<>();
        List<String> values = new ArrayList<>();
        for (String line : sse.body().split("\n")) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            JsonNode c = json.readTree(line.substring(6)).get("choices").get(0);
            text.append(c.get("text").asString());
            JsonNode lp = c.get("logprobs");
            lp.get("tokens").forEach(t -> tokens.add(t.asString()));
            lp.get("text_offset").forEach(t -> offsets.add(t.asInt()));
            lp.get("token_logprobs").forEach(t -> values.add(t.toString()));
        }
        assertThat(text.toString()).isEqualTo(whole.get("text").asString()).startsWith("Once upon a time");
        JsonNode lp = whole.get("logprobs");
        assertThat(tokens).containsExactlyElementsOf(lp.get("tokens").valueStream().map(JsonNode::asString).toList());
        assertThat(offsets).containsExactlyElementsOf(lp.get("text_offset").valueStream().map(JsonNode::asInt).toList());
        assertThat(values).containsExactlyElementsOf(lp.get("token_logprobs").valueStream().map(JsonNode::toString)
                .toList());
    }

    @Test
    void penaltiesAndBiasChangeThePickButNotTheReportedRawLogprobs() throws Exception {
        String prompt = "Once upon a time, there was a little";
        JsonNode base = ok("{\"model\":\"stories15M\",\"prompt\":%s,\"max_tokens\":24,\"temperature\":0,\"logprobs\":20}"
                .formatted(quote(prompt))).get("choices").get(0).get("logprobs");
        String firstBase = base.get("tokens").get(0).asString();
        // Ban the base's first pick; penalise repeats.
        int banned = prompts().get(0).get("greedy_steps").get(0).get("id").asInt();
        double presence = 0.5;
        double frequency = 0.8;
        JsonNode lp = ok(("{\"model\":\"stories15M\",\"prompt\":%s,\"max_tokens\":24,\"temperature\":0,\"logprobs\":20,"
                + "\"presence_penalty\":%s,\"frequency_penalty\":%s,\"logit_bias\":{\"%d\":-100}}")
                .formatted(quote(prompt), presence, frequency, banned)).get("choices").get(0).get("logprobs");
        assertThat(prompts().get(0).get("greedy_steps").get(0).get("text").asString()).isEqualTo(firstBase);
        assertThat(lp.get("tokens").get(0).asString()).isNotEqualTo(firstBase);
        // The first step's distribution is the same (raw, before bias): the same top 20.
        assertThat(lp.get("top_logprobs").get(0).toString()).isEqualTo(base.get("top_logprobs").get(0).toString());
        // Every pick is the argmax of raw logprob + bias - penalties over the reported top 20 (logprobs are
        // logits shifted by one constant per step, and penalties only lower, so the winner is among them).
        Map<String, Integer> counts = new java.util.HashMap<>();
        String bannedText = firstBase;
        for (int s = 0; s < 24; s++) {
            String best = null;
            double bestValue = Double.NEGATIVE_INFINITY;
            double twentieth = Double.POSITIVE_INFINITY;
            for (Map.Entry<String, JsonNode> e : lp.get("top_logprobs").get(s).properties()) {
                double raw = e.getValue().asDouble();
                twentieth = Math.min(twentieth, raw);
                int c = counts.getOrDefault(e.getKey(), 0);
                double v = raw - c * frequency - (c > 0 ? presence : 0) - (e.getKey().equals(bannedText) ? 100 : 0);
                if (v > bestValue) {
                    bestValue = v;
                    best = e.getKey();
                }
            }
            assertThat(bestValue).as("step %d winner within the reported top", s).isGreaterThan(twentieth);
            String token = lp.get("tokens").get(s).asString();
            assertThat(token).as("step %d", s).isEqualTo(best);
            counts.merge(token, 1, Integer::sum);
        }
    }
}

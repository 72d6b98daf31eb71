package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One prefill mixing rows that score their prompt (every position's logits) with rows that do not: each echo row
 * gets the reference prompt log-probabilities, a max_tokens 0 row ends without a token, and the other rows still
 * sample from their own last position (greedy steps as the reference took them).
 */
class EchoBatchTest {

    static class Sink implements GenerationListener {
        TokenLogprobs[] prompt;
        final List<TokenLogprobs> tokens = new java.util.concurrent.CopyOnWriteArrayList<>();
        final CompletableFuture<Integer> done = new CompletableFuture<>();

        @Override
        public void onText(String delta) {
        }

        @Override
        public void onPromptLogprobs(TokenLogprobs[] entries) {
            prompt = entries;
        }

        @Override
        public void onTokenLogprobs(TokenLogprobs token) {
            tokens.add(token);
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            done.complete(completionTokens);
        }
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    /** Eight rows of up to 256 tokens. */
    private static final EngineSettings SETTINGS = new EngineSettings(8, 256, 8 * 256, Duration.ofMinutes(2),
            Duration.ofSeconds(5));

    /** Two stories15M prompts' greedy steps and prompt log-probabilities, from transformers. */
    private static JsonNode reference() {
        return JsonMapper.builder().build().readTree(
                ReferenceFiles.resource("reference/chat/stories15m-logprobs.json").toFile());
    }

    @Test
    void echoRowsAndPlainRowsShareOnePrefill() throws Exception {
        JsonNode ref = reference();
        JsonNode little = ref.get("prompts").get(0);
        JsonNode cat = ref.get("prompts").get(1);
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32")) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            long timeout = TimeUnit.MINUTES.toNanos(2);
            Sink plainLittle = new Sink();
            Sink echoCat = new Sink();
            Sink scoreLittle = new Sink();
            Sink plainCat = new Sink();
            List<Generation> rows = List.of(
                    new Generation("t", ints(little.get("prompt_ids")), SamplingParams.greedy(8), Penalties.NONE,
                            new LogprobsOptions(5, false), List.of(), null, plainLittle, timeout),
                    new Generation("t", ints(cat.get("prompt_ids")), SamplingParams.greedy(8), Penalties.NONE,
                            new LogprobsOptions(5, true), List.of(), null, echoCat, timeout),
                    new Generation("t", ints(little.get("prompt_ids")), SamplingParams.greedy(0), Penalties.NONE,
                            new LogprobsOptions(2, true), List.of(), null, scoreLittle, timeout),
                    new Generation("t", ints(cat.get("prompt_ids")), SamplingParams.greedy(8), Penalties.NONE,
                            LogprobsOptions.NONE, List.of(), null, plainCat, timeout));
            try (Scheduler scheduler = new Scheduler(model, tokenizer, SETTINGS, EngineMetrics.standalone(), null)) {
                scheduler.submit(rows);
                assertThat(plainLittle.done.get(2, TimeUnit.MINUTES)).isEqualTo(8);
                assertThat(echoCat.done.get(2, TimeUnit.MINUTES)).isEqualTo(8);
                assertThat(scoreLittle.done.get(2, TimeUnit.MINUTES)).isEqualTo(0);
                assertThat(plainCat.done.get(2, TimeUnit.MINUTES)).isEqualTo(8);
            }
            assertThat(plainLittle.prompt).isNull();
            assertThat(scoreLittle.tokens).isEmpty();
            assertSteps(plainLittle.tokens, little.get("greedy_steps"));
            assertSteps(echoCat.tokens, cat.get("greedy_steps"));
            assertPrompt(echoCat.prompt, cat.get("prompt_logprobs"), 5);
            assertPrompt(scoreLittle.prompt, little.get("prompt_logprobs"), 2);
        }
    }

    /**
     * The choices of one request (same prompt, no interventions, echo) are prefilled once and copied: each greedy
     * choice still matches transformers step for step with its own prompt log-probabilities, sampled choices draw
     * on their own (the same seed the same tokens), and the prompt is counted once among the prefilled tokens (twice
     * here: a row asking for fewer alternatives per prompt position prefills on its own).
     */
    @Test
    void choicesOfOneRequestShareOnePrefill() throws Exception {
        JsonNode ref = reference();
        JsonNode little = ref.get("prompts").get(0);
        JsonNode cat = ref.get("prompts").get(1);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32")) {
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            long timeout = TimeUnit.MINUTES.toNanos(2);
            List<Sink> greedy = List.of(new Sink(), new Sink(), new Sink());
            List<Sink> sampled = List.of(new Sink(), new Sink(), new Sink());
            Sink other = new Sink();
            Sink fewer = new Sink();
            List<Generation> rows = new ArrayList<>();
            for (Sink sink : greedy) {
                rows.add(new Generation("t", ints(cat.get("prompt_ids")), SamplingParams.greedy(8), Penalties.NONE,
                        new LogprobsOptions(5, true), List.of(), null, sink, timeout));
            }
            rows.add(new Generation("t", ints(little.get("prompt_ids")), SamplingParams.greedy(8), Penalties.NONE,
                    new LogprobsOptions(5, false), List.of(), null, other, timeout));
            // The same prompt with fewer alternatives per prompt position: a prefill of its own.
            rows.add(new Generation("t", ints(cat.get("prompt_ids")), SamplingParams.greedy(8), Penalties.NONE,
                    new LogprobsOptions(2, true), List.of(), null, fewer, timeout));
            long[] seeds = {11, 12, 11};
            for (int i = 0; i < sampled.size(); i++) {
                rows.add(new Generation("t", ints(cat.get("prompt_ids")),
                        new SamplingParams(8, 1.0, 1.0, 0, seeds[i], List.of()), Penalties.NONE,
                        new LogprobsOptions(5, true), List.of(), null, sampled.get(i), timeout));
            }
            try (Scheduler scheduler = new Scheduler(model, tokenizer, SETTINGS,
                    new EngineMetrics(registry, t -> t), null)) {
                scheduler.submit(rows);
                for (Generation g : rows) {
                    ((Sink) g.listener()).done.get(2, TimeUnit.MINUTES);
                }
            }
            for (Sink sink : greedy) {
                assertSteps(sink.tokens, cat.get("greedy_steps"));
                assertPrompt(sink.prompt, cat.get("prompt_logprobs"), 5);
            }
            assertSteps(other.tokens, little.get("greedy_steps"));
            assertPrompt(fewer.prompt, cat.get("prompt_logprobs"), 2);
            for (Sink sink : sampled) {
                assertThat(sink.tokens).hasSize(8);
                assertPrompt(sink.prompt, cat.get("prompt_logprobs"), 5);
            }
            assertThat(sampled.get(2).tokens.stream().mapToInt(TokenLogprobs::id).toArray())
                    .containsExactly(sampled.get(0).tokens.stream().mapToInt(TokenLogprobs::id).toArray());
            assertThat(registry.get("reft.prompt.tokens").counter().count())
                    .isEqualTo(2 * cat.get("prompt_ids").size() + little.get("prompt_ids").size());
        }
    }

    private static void assertSteps(List<TokenLogprobs> got, JsonNode steps) {
        assertThat(got).hasSize(8);
        for (int s = 0; s < 8; s++) {
            assertThat(got.get(s).id()).as("step %d", s).isEqualTo(steps.get(s).get("id").asInt());
            assertThat(got.get(s).logprob()).isCloseTo(steps.get(s).get("logprob").floatValue(), within(1e-4f));
        }
    }

    private static void assertPrompt(TokenLogprobs[] got, JsonNode expected, int top) {
        assertThat(got).hasSize(expected.size());
        assertThat(got[0]).isNull();
        for (int i = 1; i < got.length; i++) {
            JsonNode e = expected.get(i);
            assertThat(got[i].id()).isEqualTo(e.get("id").asInt());
            assertThat(got[i].logprob()).as("position %d", i).isCloseTo(e.get("logprob").floatValue(), within(1e-4f));
            assertThat(got[i].topIds()).hasSize(top);
            for (int k = 0; k < top; k++) {
                assertThat(got[i].topIds()[k]).isEqualTo(e.get("top").get(k).get("id").asInt());
                assertThat(got[i].topLogprobs()[k]).isCloseTo(e.get("top").get(k).get("logprob").floatValue(),
                        within(1e-4f));
            }
        }
    }
}

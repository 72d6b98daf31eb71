package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Log-probabilities reach listeners from the output processor, not from inside the model's step: a listener that
 * fails on them fails its own row only, and the rows prefilled beside it get theirs and run to their end.
 */
class LogprobsListenerFaultTest {

    static TransformerLM base;
    static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        base = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        base.close();
    }

    static class Sink implements GenerationListener {
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();
        final AtomicInteger promptEntries = new AtomicInteger();
        final AtomicInteger tokenEntries = new AtomicInteger();
        volatile int completionTokens = -1;

        @Override
        public void onText(String delta) {
        }

        @Override
        public void onPromptLogprobs(TokenLogprobs[] prompt) {
            promptEntries.set(prompt.length);
        }

        @Override
        public void onTokenLogprobs(TokenLogprobs token) {
            tokenEntries.incrementAndGet();
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            this.completionTokens = completionTokens;
            done.complete(reason);
        }
    }

    static Generation echoRow(int maxTokens, GenerationListener listener) {
        return new Generation("acme", tokenizer.encode("Once upon a time"), SamplingParams.greedy(maxTokens),
                Penalties.NONE, new LogprobsOptions(2, true), List.of(), null, listener, TimeUnit.MINUTES.toNanos(1));
    }

    @Test
    void aListenerFailingOnItsPromptLogprobsFailsOnlyItsRow() throws Exception {
        int promptLength = tokenizer.encode("Once upon a time").length;
        try (Scheduler scheduler = new Scheduler(base, tokenizer, new EngineSettings(4, 16, 4 * 256,
                Duration.ofMinutes(1), Duration.ofSeconds(5)), EngineMetrics.standalone(), null)) {
            Sink failing = new Sink() {
                @Override
                public void onPromptLogprobs(TokenLogprobs[] prompt) {
                    throw new IllegalStateException("listener bug");
                }
            };
            Sink generating = new Sink();
            Sink scoring = new Sink();
            scheduler.submit(List.of(echoRow(4, failing), echoRow(4, generating), echoRow(0, scoring)));

            assertThat(failing.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.ERROR);
            assertThat(generating.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(generating.promptEntries).hasValue(promptLength);
            assertThat(generating.tokenEntries).hasValue(4);
            assertThat(generating.completionTokens).isEqualTo(4);
            // max_tokens 0: the prompt is scored and the row ends with its prefill, generating nothing.
            assertThat(scoring.done.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
            assertThat(scoring.promptEntries).hasValue(promptLength);
            assertThat(scoring.tokenEntries).hasValue(0);
            assertThat(scoring.completionTokens).isEqualTo(0);
        }
    }
}

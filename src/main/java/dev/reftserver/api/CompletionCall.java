package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import dev.reftserver.engine.FinishReason;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.GenerationListener;
import dev.reftserver.engine.TokenLogprobs;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.http.HttpStatus;

/**
 * One completion request in flight: its rows' listeners, and either the collected texts (one JSON body) or a queue
 * of streaming events that an HTTP thread drains, so the engine thread never waits on a client.
 */
final class CompletionCall {

    /** Marks the end of the stream in {@link #events}. */
    static final Object END = new Object();

    final String id;
    final long created;
    final String model;
    final boolean stream;
    final boolean includeUsage;
    final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    final CompletableFuture<CompletionResponse> result = new CompletableFuture<>();

    private final int choices;
    private final StringBuilder[] texts;
    /** Per choice: the prompt text to prepend (echo), or null. */
    private final String[] echoes;
    /** Per choice: its log-probabilities, or null when the request did not ask for them. */
    private final ChoiceLogprobs[] logprobs;
    private final boolean[] echoSent;
    private final String[] finishReasons;
    private final int[] promptTokensPerChoice;
    private final int[] completionTokens;
    private final int n;
    private final AtomicInteger remaining;
    private final List<Generation> rows = new ArrayList<>();
    private volatile FinishReason failure;
    private volatile java.util.function.IntConsumer onGenerated = n -> { };

    CompletionCall(String id, long created, String model, int choices, int n, boolean stream, boolean includeUsage) {
        this.id = id;
        this.created = created;
        this.model = model;
        this.choices = choices;
        this.n = n;
        this.stream = stream;
        this.includeUsage = includeUsage;
        this.texts = new StringBuilder[choices];
        this.finishReasons = new String[choices];
        this.promptTokensPerChoice = new int[choices];
        this.completionTokens = new int[choices];
        this.echoes = new String[choices];
        this.logprobs = new ChoiceLogprobs[choices];
        this.echoSent = new boolean[choices];
        for (int i = 0; i < choices; i++) {
            texts[i] = new StringBuilder();
        }
        this.remaining = new AtomicInteger(choices);
    }

    /** How many choices the call answers with (prompts x n). */
    int choiceCount() {
        return choices;
    }

    /** Told the call's total generated tokens once every row has finished (for token quotas). */
    void onGenerated(java.util.function.IntConsumer sink) {
        this.onGenerated = sink;
    }

    void add(Generation g) {
        rows.add(g);
    }

    List<Generation> rows() {
        return rows;
    }

    void cancel() {
        rows.forEach(Generation::cancel);
    }

    /**
     * @param echo     the prompt text the choice's text starts with, or null
     * @param logprobs where the choice's log-probabilities accumulate, or null
     * @param prompt   the prompt's ids (echo reports one log-probability entry per id)
     */
    GenerationListener listener(int index, String echo, ChoiceLogprobs logprobs, int[] prompt) {
        echoes[index] = echo;
        this.logprobs[index] = logprobs;
        if (echo != null && !stream) {
            texts[index].append(echo);
        }
        return new GenerationListener() {
            @Override
            public void onPromptLogprobs(TokenLogprobs[] entries) {
                if (logprobs != null) {
                    logprobs.prompt(prompt, entries);
                }
                sendEcho(index);
            }

            @Override
            public void onTokenLogprobs(TokenLogprobs token) {
                sendEcho(index);
                if (logprobs != null) {
                    logprobs.generated(token);
                }
            }

            @Override
            public void onText(String delta) {
                sendEcho(index);
                if (stream) {
                    events.offer(chunk(new CompletionResponse.Choice(delta, index, pendingLogprobs(index), null)));
                } else {
                    texts[index].append(delta);
                }
            }

            @Override
            public void onFinish(FinishReason reason, int promptTokens, int generated) {
                promptTokensPerChoice[index] = promptTokens;
                completionTokens[index] = generated;
                boolean ok = reason == FinishReason.STOP || reason == FinishReason.LENGTH;
                if (!ok && failure == null) {
                    failure = reason;
                }
                finishReasons[index] = ok ? reason.wire() : null;
                if (stream && ok) {
                    sendEcho(index);
                    events.offer(chunk(new CompletionResponse.Choice("", index, pendingLogprobs(index),
                            reason.wire())));
                }
                if (remaining.decrementAndGet() == 0) {
                    complete();
                }
            }
        };
    }

    /** Streaming: the prompt text (and its log-probabilities) goes out once, ahead of the choice's first text. */
    private void sendEcho(int index) {
        if (stream && echoes[index] != null && !echoSent[index]) {
            echoSent[index] = true;
            events.offer(chunk(new CompletionResponse.Choice(echoes[index], index, pendingLogprobs(index), null)));
        }
    }

    /** Streaming: the entries of tokens reported since the choice's last chunk, or null without logprobs. */
    private CompletionResponse.Logprobs pendingLogprobs(int index) {
        return logprobs[index] == null ? null : logprobs[index].drain();
    }

    private CompletionResponse chunk(CompletionResponse.Choice choice) {
        return new CompletionResponse(id, "text_completion", created, model, List.of(choice), null);
    }

    private CompletionResponse.Usage usage() {
        int prompt = 0;
        int completion = 0;
        for (int i = 0; i < choices; i++) {
            // OpenAI counts each prompt once, however many completions (n) it gets.
            if (i % n == 0) {
                prompt += promptTokensPerChoice[i];
            }
            completion += completionTokens[i];
        }
        return new CompletionResponse.Usage(prompt, completion, prompt + completion);
    }

    private void complete() {
        int generated = 0;
        for (int c : completionTokens) {
            generated += c;
        }
        try {
            onGenerated.accept(generated);
        } catch (RuntimeException ignored) {
            // quota accounting must never keep a response from its client
        }
        FinishReason f = failure;
        if (stream) {
            if (f != null && f != FinishReason.CANCELLED) {
                ServiceException e = failureException(f);
                events.offer(ErrorBody.of(e.getMessage(), e.type(), null, e.code()));
            } else if (includeUsage) {
                events.offer(new CompletionResponse(id, "text_completion", created, model, List.of(), usage()));
            }
            events.offer(END);
            return;
        }
        if (f != null) {
            result.completeExceptionally(failureException(f));
            return;
        }
        List<CompletionResponse.Choice> out = new ArrayList<>(choices);
        for (int i = 0; i < choices; i++) {
            out.add(new CompletionResponse.Choice(texts[i].toString(), i,
                    logprobs[i] == null ? null : logprobs[i].all(), finishReasons[i]));
        }
        result.complete(new CompletionResponse(id, "text_completion", created, model, out, usage()));
    }

    private static ServiceException failureException(FinishReason f) {
        return switch (f) {
            case TIMEOUT -> new ServiceException(HttpStatus.GATEWAY_TIMEOUT, "timeout", null, "request_timeout",
                    "the request did not finish within the server's time limit");
            case SHUTDOWN -> new ServiceException(HttpStatus.SERVICE_UNAVAILABLE, "server_unavailable", null,
                    "shutting_down", "the server shut down before the request finished");
            case CANCELLED -> new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", null, "cancelled",
                    "the request was cancelled");
            default -> new ServiceException(HttpStatus.INTERNAL_SERVER_ERROR, "server_error", null, "engine_error",
                    "the engine failed while generating");
        };
    }
}

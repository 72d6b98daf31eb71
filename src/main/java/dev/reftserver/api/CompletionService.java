package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import dev.reftserver.config.EngineProperties;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.springframework.stereotype.Service;
import tools.jackson.databind.JsonNode;

/** Validates an OpenAI completion request, turns it into engine rows and submits them. */
@Service
public class CompletionService {

    static final int MAX_STOP_STRINGS = 4;

    /**
     * A prompt longer than the context times this many UTF-8 bytes cannot fit the context: no token of the
     * Llama or GPT-2 vocabularies spans that many bytes, so such a prompt would tokenize past the context anyway.
     */
    static final int MAX_BYTES_PER_TOKEN = 64;

    private final Scheduler scheduler;
    private final TextTokenizer tokenizer;
    private final EngineProperties engine;

    public CompletionService(Scheduler scheduler, TextTokenizer tokenizer, EngineProperties engine) {
        this.scheduler = scheduler;
        this.tokenizer = tokenizer;
        this.engine = engine;
    }

    /**
     * @param bundle the resolved intervention, or null for the base model; must stay loaded until the call ends
     */
    CompletionCall start(String tenant, CompletionRequest req, LoadedBundle bundle,
            java.util.function.IntConsumer onGenerated) {
        List<String> prompts = prompts(req.prompt());
        int n = req.n() == null ? 1 : req.n();
        // n and the prompt count are checked apart, and their product in long, before any work proportional to
        // either: an int product wraps (2^30 + 1 samples of 4 prompts is 4 in int arithmetic).
        if (n < 1 || n > engine.maxN()) {
            throw ServiceException.invalidRequest("n", "n must be between 1 and " + engine.maxN()
                    + " (reft.engine.max-n), got " + n);
        }
        long rows = (long) n * prompts.size();
        if (rows > engine.maxN()) {
            throw ServiceException.invalidRequest("n", "n x prompts must be at most " + engine.maxN()
                    + " (reft.engine.max-n), got " + n + " x " + prompts.size());
        }
        rejectUnsupported(req);
        int context = scheduler.maxContext();
        int maxTokens = req.maxTokens() == null ? 16 : req.maxTokens();
        if (maxTokens < 1 || maxTokens > context) {
            throw ServiceException.invalidRequest("max_tokens", "max_tokens must be between 1 and the model's context of "
                    + context + ", got " + maxTokens);
        }
        double temperature = req.temperature() == null ? 1.0 : req.temperature();
        if (!(temperature >= 0.0 && temperature <= 2.0)) {
            throw ServiceException.invalidRequest("temperature", "temperature must be between 0 and 2, got "
                    + req.temperature());
        }
        double topP = req.topP() == null ? 1.0 : req.topP();
        if (!(topP > 0.0 && topP <= 1.0)) {
            throw ServiceException.invalidRequest("top_p", "top_p must be in (0, 1], got " + req.topP());
        }
        int topK = req.topK() == null ? 0 : req.topK();
        if (topK < 0) {
            throw ServiceException.invalidRequest("top_k", "top_k must be >= 0 (0 disables it), got " + topK);
        }
        List<String> stop = stops(req.stop());
        List<int[]> ids = new ArrayList<>(prompts.size());
        long maxPromptBytes = (long) context * MAX_BYTES_PER_TOKEN;
        for (int i = 0; i < prompts.size(); i++) {
            // Refused on its size before the tokenizer's cost (linear or worse in the text) is paid.
            long bytes = utf8Length(prompts.get(i));
            if (bytes > maxPromptBytes) {
                throw ServiceException.invalidRequest("prompt", "prompt" + (prompts.size() > 1 ? " " + i : "")
                        + " has " + bytes + " bytes; prompts are limited to " + maxPromptBytes
                        + " bytes (" + MAX_BYTES_PER_TOKEN + " x the model's context of " + context + " tokens)");
            }
            int[] enc = tokenizer.encode(prompts.get(i));
            if (enc.length + maxTokens > context) {
                throw ServiceException.invalidRequest(enc.length >= context ? "prompt" : "max_tokens",
                        "prompt" + (prompts.size() > 1 ? " " + i : "") + " has " + enc.length
                                + " tokens; with max_tokens " + maxTokens + " that exceeds the model's context of "
                                + context + " tokens");
            }
            ids.add(enc);
        }
        boolean stream = Boolean.TRUE.equals(req.stream());
        boolean includeUsage = req.streamOptions() != null && Boolean.TRUE.equals(req.streamOptions().includeUsage());
        CompletionCall call = new CompletionCall("cmpl-" + UUID.randomUUID().toString().replace("-", ""),
                System.currentTimeMillis() / 1000, req.model(), (int) rows, n, stream, includeUsage);
        call.onGenerated(onGenerated);
        long timeout = engine.requestTimeout().toNanos();
        int index = 0;
        for (int[] prompt : ids) {
            for (int j = 0; j < n; j++) {
                // Each of the n samples of a seeded request gets its own, still repeatable, seed.
                Long seed = req.seed() == null ? null : req.seed() + j;
                SamplingParams params = new SamplingParams(maxTokens, temperature, topP, topK, seed, stop);
                call.add(new Generation(tenant, prompt, params, bundle, call.listener(index++), timeout));
            }
        }
        scheduler.submit(call.rows());
        return call;
    }

    /** The UTF-8 length of {@code s}, without encoding it. */
    static long utf8Length(String s) {
        long bytes = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                bytes += 1;
            } else if (c < 0x800) {
                bytes += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length()
                    && Character.isLowSurrogate(s.charAt(i + 1))) {
                bytes += 4;
                i++;
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }

    private static List<String> prompts(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) {
            throw ServiceException.invalidRequest("prompt", "prompt is required");
        }
        List<String> out = new ArrayList<>();
        if (prompt.isString()) {
            out.add(prompt.asString());
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            for (JsonNode p : prompt) {
                if (!p.isString()) {
                    throw ServiceException.invalidRequest("prompt",
                            "prompt must be a string or an array of strings (token-id prompts are not supported)");
                }
                out.add(p.asString());
            }
        } else {
            throw ServiceException.invalidRequest("prompt", "prompt must be a non-empty string or array of strings");
        }
        for (String p : out) {
            if (p.isEmpty()) {
                throw ServiceException.invalidRequest("prompt", "prompt must not be empty");
            }
        }
        return out;
    }

    private static List<String> stops(JsonNode stop) {
        if (stop == null || stop.isNull()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (stop.isString()) {
            out.add(stop.asString());
        } else if (stop.isArray()) {
            for (JsonNode s : stop) {
                if (!s.isString()) {
                    throw ServiceException.invalidRequest("stop", "stop must be a string or an array of strings");
                }
                out.add(s.asString());
            }
        } else {
            throw ServiceException.invalidRequest("stop", "stop must be a string or an array of strings");
        }
        if (out.size() > MAX_STOP_STRINGS || out.stream().anyMatch(String::isEmpty)) {
            throw ServiceException.invalidRequest("stop", "stop takes 1 to " + MAX_STOP_STRINGS + " non-empty strings");
        }
        return out;
    }

    private static void rejectUnsupported(CompletionRequest req) {
        if (req.logprobs() != null) {
            throw ServiceException.invalidRequest("logprobs", "logprobs is not supported");
        }
        if (Boolean.TRUE.equals(req.echo())) {
            throw ServiceException.invalidRequest("echo", "echo is not supported");
        }
        if (req.bestOf() != null && req.bestOf() != 1) {
            throw ServiceException.invalidRequest("best_of", "best_of other than 1 is not supported");
        }
        if (req.presencePenalty() != null && req.presencePenalty() != 0.0) {
            throw ServiceException.invalidRequest("presence_penalty", "presence_penalty is not supported");
        }
        if (req.frequencyPenalty() != null && req.frequencyPenalty() != 0.0) {
            throw ServiceException.invalidRequest("frequency_penalty", "frequency_penalty is not supported");
        }
        if (req.suffix() != null && !req.suffix().isEmpty()) {
            throw ServiceException.invalidRequest("suffix", "suffix is not supported");
        }
    }
}

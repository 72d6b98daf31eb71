package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import dev.reftserver.config.EngineProperties;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.LogprobsOptions;
import dev.reftserver.engine.Penalties;
import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.engine.SharedLease;
import dev.reftserver.intervention.ScaledBundle;
import dev.reftserver.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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

    /** Most interventions one request may compose. */
    static final int MAX_COMPOSED = 8;
    /** Largest magnitude of a composition member's scale. */
    static final double MAX_SCALE = 10.0;

    /** One prompt: its ids, and the text an echo prepends. */
    private record Prompt(int[] ids, String text) {
    }

    /**
     * Checks what must hold before anything is resolved or leased: no unknown field, and a well-formed
     * {@code interventions} composition.
     */
    static void checkSelection(CompletionRequest req) {
        req.rejectUnknownFields();
        checkComposition(req.intervention(), req.interventions());
    }

    /** A well-formed {@code interventions} composition (or none), whichever endpoint it came from. */
    static void checkComposition(String intervention, List<InterventionRef> members) {
        if (members == null) {
            return;
        }
        if (intervention != null && !intervention.isBlank()) {
            throw ServiceException.invalidRequest("interventions",
                    "give either intervention or interventions, not both");
        }
        if (members.isEmpty() || members.size() > MAX_COMPOSED) {
            throw ServiceException.invalidRequest("interventions", "interventions takes 1 to " + MAX_COMPOSED
                    + " entries, got " + members.size());
        }
        for (int i = 0; i < members.size(); i++) {
            InterventionRef m = members.get(i);
            if (m != null) {
                UnknownFields.reject(m.unknown(), "interventions[" + i + "].");
            }
            if (m == null || m.name() == null || m.name().isBlank()) {
                throw ServiceException.invalidRequest("interventions[" + i + "].name",
                        "each entry of interventions needs a name");
            }
            double scale = m.scaleOrDefault();
            if (!(Math.abs(scale) <= MAX_SCALE)) {
                throw ServiceException.invalidRequest("interventions[" + i + "].scale",
                        "scale must be between -" + MAX_SCALE + " and " + MAX_SCALE + ", got " + m.scale());
            }
        }
    }

    /**
     * @param bundles the resolved interventions in order with their scales (empty for the base model)
     * @param lease   what keeps every one of {@code bundles} loaded: once the rows are submitted they own it (the
     *     engine releases it when the last of them finishes); if this throws, it is still the caller's to release
     */
    CompletionCall start(String tenant, CompletionRequest req, List<ScaledBundle> bundles, AutoCloseable lease,
            java.util.function.IntConsumer onGenerated) {
        return submit(tenant, req, prompts(req.prompt()), bundles, lease, onGenerated);
    }

    /**
     * Refuses a text on its size before the tokenizer's cost (linear or worse in the text) is paid: at most
     * {@link #MAX_BYTES_PER_TOKEN} UTF-8 bytes per token of the model's context.
     */
    void checkPromptBytes(List<String> prompts, String param) {
        for (int i = 0; i < prompts.size(); i++) {
            checkPromptBytes(prompts.get(i), param, prompts.size() > 1 ? " " + i : "");
        }
    }

    /** @param which which of several prompts, for the message ({@code ""} for a single one) */
    private void checkPromptBytes(String prompt, String param, String which) {
        long maxPromptBytes = (long) scheduler.maxContext() * MAX_BYTES_PER_TOKEN;
        long bytes = utf8Length(prompt);
        if (bytes > maxPromptBytes) {
            throw ServiceException.invalidRequest(param, param + which + " has " + bytes
                    + " bytes; prompts are limited to " + maxPromptBytes + " bytes (" + MAX_BYTES_PER_TOKEN
                    + " x the model's context of " + scheduler.maxContext() + " tokens)");
        }
    }

    /**
     * {@link #start} for prompts already turned into token ids (a rendered chat); {@code req.prompt()} is not read
     * and {@code echo} does not apply.
     */
    CompletionCall startEncoded(String tenant, CompletionRequest req, List<int[]> prompts, List<ScaledBundle> bundles,
            AutoCloseable lease, java.util.function.IntConsumer onGenerated) {
        List<Prompt> encoded = new ArrayList<>(prompts.size());
        for (int[] ids : prompts) {
            encoded.add(new Prompt(ids, null));
        }
        return submit(tenant, req, encoded, bundles, lease, onGenerated);
    }

    private CompletionCall submit(String tenant, CompletionRequest req, List<Prompt> prompts,
            List<ScaledBundle> bundles, AutoCloseable lease, java.util.function.IntConsumer onGenerated) {
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
        boolean echo = Boolean.TRUE.equals(req.echo());
        int context = scheduler.maxContext();
        int maxTokens = maxTokens(req, echo, context);
        double temperature = req.temperature() == null ? 1.0 : req.temperature();
        if (!(temperature >= 0.0 && temperature <= 2.0)) {
            throw ServiceException.invalidRequest("temperature", "temperature must be between 0 and 2, got "
                    + req.temperature());
        }
        double topP = req.topP() == null ? 1.0 : req.topP();
        if (!(topP >= 0.0 && topP <= 1.0)) {
            throw ServiceException.invalidRequest("top_p", "top_p must be between 0 and 1, got " + req.topP());
        }
        int topK = req.topK() == null ? 0 : req.topK();
        if (topK < 0) {
            throw ServiceException.invalidRequest("top_k", "top_k must be >= 0 (0 disables it), got " + topK);
        }
        if (req.logprobs() != null && (req.logprobs() < 0 || req.logprobs() > TokenLogprobs.MAX_TOP)) {
            throw ServiceException.invalidRequest("logprobs", "logprobs must be between 0 and "
                    + TokenLogprobs.MAX_TOP + ", got " + req.logprobs());
        }
        LogprobsOptions logprobs = req.logprobs() == null ? LogprobsOptions.NONE
                : new LogprobsOptions(req.logprobs(), echo);
        Penalties penalties = penalties(req);
        List<String> stop = stops(req.stop());
        for (int i = 0; i < prompts.size(); i++) {
            int length = prompts.get(i).ids().length;
            if (length + maxTokens > context) {
                throw ServiceException.invalidRequest(length >= context ? "prompt" : "max_tokens",
                        "prompt" + (prompts.size() > 1 ? " " + i : "") + " has " + length
                                + " tokens; with max_tokens " + maxTokens + " that exceeds the model's context of "
                                + context + " tokens");
            }
        }
        boolean stream = Boolean.TRUE.equals(req.stream());
        boolean includeUsage = req.streamOptions() != null && Boolean.TRUE.equals(req.streamOptions().includeUsage());
        CompletionCall call = new CompletionCall("cmpl-" + UUID.randomUUID().toString().replace("-", ""),
                System.currentTimeMillis() / 1000, req.model(), (int) rows, n, stream, includeUsage);
        call.onGenerated(onGenerated);
        long timeout = engine.requestTimeout().toNanos();
        List<AutoCloseable> shares = SharedLease.split(lease, prompts.size() * n);
        int index = 0;
        for (Prompt prompt : prompts) {
            for (int j = 0; j < n; j++) {
                // Each of the n samples of a seeded request gets its own, still repeatable, seed.
                Long seed = req.seed() == null ? null : req.seed() + j;
                SamplingParams params = new SamplingParams(maxTokens, temperature, topP, topK, seed, stop);
                ChoiceLogprobs choiceLogprobs = logprobs.any() ? new ChoiceLogprobs(tokenizer, prompt.ids(), echo)
                        : null;
                call.add(new Generation(tenant, prompt.ids(), params, penalties, logprobs, bundles,
                        shares.get(index), call.listener(index, echo ? prompt.text() : null, choiceLogprobs,
                                prompt.ids()), timeout));
                index++;
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

    /** {@code max_tokens} or its alias {@code max_completion_tokens}; 0 only with echo (scoring the prompt). */
    private static int maxTokens(CompletionRequest req, boolean echo, int context) {
        Integer given = req.maxTokens();
        String param = "max_tokens";
        if (req.maxCompletionTokens() != null) {
            if (given != null && !given.equals(req.maxCompletionTokens())) {
                throw ServiceException.invalidRequest("max_completion_tokens", "max_tokens (" + given
                        + ") and its alias max_completion_tokens (" + req.maxCompletionTokens() + ") disagree");
            }
            given = req.maxCompletionTokens();
            param = req.maxTokens() == null ? "max_completion_tokens" : param;
        }
        int maxTokens = given == null ? 16 : given;
        if (maxTokens == 0 && !echo) {
            throw ServiceException.invalidRequest(param, param + " 0 generates nothing; it is allowed only with "
                    + "echo (to score the prompt)");
        }
        if (maxTokens < 0 || maxTokens > context) {
            throw ServiceException.invalidRequest(param, param + " must be between 1 and the model's context of "
                    + context + ", got " + maxTokens);
        }
        return maxTokens;
    }

    private Penalties penalties(CompletionRequest req) {
        double presence = penalty(req.presencePenalty(), "presence_penalty");
        double frequency = penalty(req.frequencyPenalty(), "frequency_penalty");
        double repetition = req.repetitionPenalty() == null ? 1.0 : req.repetitionPenalty();
        if (!(repetition > 0.0 && Double.isFinite(repetition))) {
            throw ServiceException.invalidRequest("repetition_penalty",
                    "repetition_penalty must be a positive number (1 disables it), got " + req.repetitionPenalty());
        }
        Map<Integer, Float> bias = new HashMap<>();
        if (req.logitBias() != null) {
            int vocab = tokenizer.vocabSize();
            for (Map.Entry<String, Double> e : req.logitBias().entrySet()) {
                int id;
                try {
                    id = Integer.parseInt(e.getKey().trim());
                } catch (NumberFormatException ex) {
                    id = -1;
                }
                if (id < 0 || id >= vocab) {
                    throw ServiceException.invalidRequest("logit_bias", "logit_bias keys must be token ids from 0 to "
                            + (vocab - 1) + ", got '" + e.getKey() + "'");
                }
                Double v = e.getValue();
                if (v == null || !(v >= -100.0 && v <= 100.0)) {
                    throw ServiceException.invalidRequest("logit_bias", "logit_bias values must be between -100 and "
                            + "100, got " + v + " for token " + id);
                }
                bias.put(id, v.floatValue());
            }
        }
        return new Penalties(presence, frequency, repetition, bias);
    }

    private static double penalty(Double value, String param) {
        double v = value == null ? 0.0 : value;
        if (!(v >= -2.0 && v <= 2.0)) {
            throw ServiceException.invalidRequest(param, param + " must be between -2 and 2, got " + value);
        }
        return v;
    }

    /**
     * A string, an array of strings, an array of token ids, or an array of arrays of token ids. Text is bounded in
     * bytes, then encoded as the model does (BOS first where it has one), so an empty string is a valid one-token
     * prompt exactly when the tokenizer adds BOS; token ids are taken as they are.
     */
    private List<Prompt> prompts(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) {
            throw ServiceException.invalidRequest("prompt", "prompt is required");
        }
        List<Prompt> out = new ArrayList<>();
        if (prompt.isString()) {
            checkPromptBytes(prompt.asString(), "prompt", "");
            out.add(text(prompt.asString(), "prompt"));
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            out.add(ids(prompt, "prompt"));
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            for (int i = 0; i < prompt.size(); i++) {
                JsonNode p = prompt.get(i);
                String param = "prompt[" + i + "]";
                if (p.isString()) {
                    checkPromptBytes(p.asString(), "prompt", " " + i);
                    out.add(text(p.asString(), param));
                } else if (p.isArray()) {
                    out.add(ids(p, param));
                } else {
                    throw ServiceException.invalidRequest(param, "prompt must be a string, an array of strings, "
                            + "an array of token ids or an array of arrays of token ids");
                }
            }
        } else {
            throw ServiceException.invalidRequest("prompt", "prompt must be a string, a non-empty array of strings, "
                    + "an array of token ids or an array of arrays of token ids");
        }
        return out;
    }

    private Prompt text(String text, String param) {
        int[] ids = tokenizer.encode(text);
        if (ids.length == 0) {
            throw ServiceException.invalidRequest(param, "prompt has no tokens (this model adds no BOS to an empty "
                    + "prompt)");
        }
        return new Prompt(ids, text);
    }

    private Prompt ids(JsonNode array, String param) {
        if (array.isEmpty()) {
            throw ServiceException.invalidRequest(param, "a token-id prompt must not be empty");
        }
        int vocab = tokenizer.vocabSize();
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = array.get(i);
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= vocab) {
                throw ServiceException.invalidRequest(param, "token ids must be integers from 0 to " + (vocab - 1)
                        + ", got " + id);
            }
            ids[i] = id.asInt();
        }
        return new Prompt(ids, tokenizer.decode(ids));
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
        if (req.bestOf() != null && req.bestOf() != 1) {
            throw ServiceException.invalidRequest("best_of", "best_of other than 1 is not supported");
        }
        if (req.suffix() != null && !req.suffix().isEmpty()) {
            throw ServiceException.invalidRequest("suffix", "suffix is not supported");
        }
    }
}

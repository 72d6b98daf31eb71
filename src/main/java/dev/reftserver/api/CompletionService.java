package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import dev.reftserver.config.EngineProperties;
import dev.reftserver.engine.Generation;
import dev.reftserver.engine.LogprobsOptions;
import dev.reftserver.engine.Penalties;
import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.engine.SamplingParams;
import dev.reftserver.engine.Scheduler;
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
        List<InterventionRef> members = req.interventions();
        if (members == null) {
            return;
        }
        if (req.intervention() != null && !req.intervention().isBlank()) {
            throw ServiceException.invalidRequest("interventions",
                    "give either intervention or interventions, not both");
        }
        if (members.isEmpty() || members.size() > MAX_COMPOSED) {
            throw ServiceException.invalidRequest("interventions", "interventions takes 1 to " + MAX_COMPOSED
                    + " entries, got " + members.size());
        }
        for (int i = 0; i < members.size(); i++) {
            InterventionRef m = members.get(i);
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
     * @param bundles the resolved interventions in order with their scales (empty for the base model); they must
     *     stay loaded until the call ends
     */
    CompletionCall start(String tenant, CompletionRequest req, List<ScaledBundle> bundles,
            java.util.function.IntConsumer onGenerated) {
        List<Prompt> prompts = prompts(req.prompt());
        int n = req.n() == null ? 1 : req.n();
        if (n < 1 || n * prompts.size() > engine.maxN()) {
            throw ServiceException.invalidRequest("n", "n x prompts must be between 1 and " + engine.maxN() + ", got "
                    + n + " x " + prompts.size());
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
        if (!(topP > 0.0 && topP <= 1.0)) {
            throw ServiceException.invalidRequest("top_p", "top_p must be in (0, 1], got " + req.topP());
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
                System.currentTimeMillis() / 1000, req.model(), prompts.size() * n, n, stream, includeUsage);
        call.onGenerated(onGenerated);
        long timeout = engine.requestTimeout().toNanos();
        int index = 0;
        for (Prompt prompt : prompts) {
            for (int j = 0; j < n; j++) {
                // Each of the n samples of a seeded request gets its own, still repeatable, seed.
                Long seed = req.seed() == null ? null : req.seed() + j;
                SamplingParams params = new SamplingParams(maxTokens, temperature, topP, topK, seed, stop);
                ChoiceLogprobs choiceLogprobs = logprobs.any() ? new ChoiceLogprobs(tokenizer, prompt.ids(), echo)
                        : null;
                call.add(new Generation(tenant, prompt.ids(), params, penalties, logprobs, bundles,
                        call.listener(index++, echo ? prompt.text() : null, choiceLogprobs, prompt.ids()), timeout));
            }
        }
        scheduler.submit(call.rows());
        return call;
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
     * A string, an array of strings, an array of token ids, or an array of arrays of token ids. Text is encoded
     * as the model does (BOS first where it has one), so an empty string is a valid one-token prompt exactly when
     * the tokenizer adds BOS; token ids are taken as they are.
     */
    private List<Prompt> prompts(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) {
            throw ServiceException.invalidRequest("prompt", "prompt is required");
        }
        List<Prompt> out = new ArrayList<>();
        if (prompt.isString()) {
            out.add(text(prompt.asString(), "prompt"));
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            out.add(ids(prompt, "prompt"));
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            for (int i = 0; i < prompt.size(); i++) {
                JsonNode p = prompt.get(i);
                String param = "prompt[" + i + "]";
                if (p.isString()) {
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

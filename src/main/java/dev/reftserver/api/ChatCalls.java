package dev.reftserver.api;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.chat.ChatTemplateException;
import dev.reftserver.config.BaseModel;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.error.ServiceException;
import dev.reftserver.tenant.RateLimiter;
import java.util.List;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Starts a conversation's generation for the caller, from a Chat Completions body: the conversation is rendered to
 * token ids (the model's chat template, or the intervention's prompt template) and generated exactly as a
 * completion of those ids, so models, interventions, tenancy, limits and sampling behave as on
 * {@code /v1/completions}. Chat Completions and Responses both answer from it.
 */
@Component
class ChatCalls {

    /** A generation under way and what it applies; the call's rows own the target's lease. */
    record Started(CompletionCall call, CompletionTargets.Target target) {
    }

    private final CompletionService completions;
    private final CompletionTargets targets;
    private final CallerTenant caller;
    private final JsonMapper json;
    private final RateLimiter limits;
    private final ChatPrompts prompts;
    private final Scheduler scheduler;
    private final BaseModel base;

    ChatCalls(CompletionService completions, CompletionTargets targets, CallerTenant caller, JsonMapper json,
            RateLimiter limits, ChatPrompts prompts, Scheduler scheduler, BaseModel base) {
        this.completions = completions;
        this.targets = targets;
        this.caller = caller;
        this.json = json;
        this.limits = limits;
        this.prompts = prompts;
        this.scheduler = scheduler;
        this.base = base;
    }

    /** Checks a Chat Completions body and starts its generation for the caller. */
    Started start(JsonNode body) {
        ChatCompletionRequest req = ChatCompletionRequest.parse(body, json);
        if (req.model() == null || req.model().isBlank()) {
            throw ServiceException.invalidRequest("model", "model is required");
        }
        List<Map<String, Object>> messages = ChatCompletionRequest.templateMessages(body.get("messages"));
        // The conversation is bounded like a completion prompt before a template renders it or a tokenizer reads it.
        StringBuilder text = new StringBuilder();
        for (Map<String, Object> m : messages) {
            text.append(m.get("content"));
        }
        if (req.chatTemplateKwargs() != null) {
            // what a template may print of its variables counts like the messages
            text.append(body.get("chat_template_kwargs"));
        }
        completions.checkPromptBytes(List.of(text.toString()), "messages");
        String tenant = caller.tenant();
        limits.checkRequest(tenant);
        limits.checkTokens(tenant);
        CompletionTargets.Target target = targets.resolve(tenant,
                ChatCompletionRequest.completionRequest(body, 1, json));
        try {
            int[] prompt = prompt(messages, req.chatTemplateKwargs(), target);
            int context = scheduler.maxContext();
            if (prompt.length >= context) {
                throw ServiceException.invalidRequest("messages", "the rendered conversation has " + prompt.length
                        + " tokens; the model's context is " + context);
            }
            int maxTokens = req.maxTokensAsked() != null ? req.maxTokensAsked() : context - prompt.length;
            if (maxTokens >= 1 && prompt.length + maxTokens > context) {
                String field = req.maxCompletionTokens() != null ? "max_completion_tokens" : "max_tokens";
                throw ServiceException.invalidRequest(field, "the rendered conversation has " + prompt.length
                        + " tokens; with " + field + " " + maxTokens + " that exceeds the model's context of "
                        + context + " tokens");
            }
            CompletionRequest settings = ChatCompletionRequest.completionRequest(body, maxTokens, json);
            // From here the rows own the bundles' lease: the engine releases it when the last of them finishes.
            return new Started(completions.startEncoded(tenant, settings, List.of(prompt), target.bundles(),
                    target.lease(), n -> limits.recordTokens(tenant, n)), target);
        } catch (RuntimeException e) {
            target.release();
            throw e;
        }
    }

    /**
     * The prompt's token ids: the intervention's prompt template if it declares one, else the chat template. A
     * composition renders with the chat template: its members' templates may disagree, and none speaks for all.
     */
    private int[] prompt(List<Map<String, Object>> messages, Map<String, Object> variables,
            CompletionTargets.Target target) {
        String promptTemplate = target.bundles().size() == 1 ? target.bundles().get(0).bundle().promptTemplate()
                : null;
        if (promptTemplate != null) {
            return prompts.fill(promptTemplate, ChatCompletionRequest.lastUserText(messages)).ids();
        }
        if (!prompts.hasTemplate()) {
            throw new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", "model", "no_chat_template",
                    "the model " + base.id() + " has no chat template: set reft.model.chat-template to a template"
                            + " file, or use /v1/completions");
        }
        try {
            return prompts.render(messages, true, variables).ids();
        } catch (ChatTemplateException e) {
            throw new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", "messages",
                    e.raisedByTemplate() ? "chat_template_rejected" : "chat_template_error", e.getMessage());
        }
    }
}

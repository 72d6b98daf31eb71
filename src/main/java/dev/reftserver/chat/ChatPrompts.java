package dev.reftserver.chat;

import dev.reftserver.tokenizer.TextTokenizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a conversation into the token ids a chat request generates from: the model's chat template rendered and
 * tokenized as transformers' {@code apply_chat_template(tokenize=True)} does, or, for an intervention trained on
 * its own prompt template, that template filled with the last user message and tokenized as pyreft does.
 */
public final class ChatPrompts {

    /** The conversation's prompt: the text it was rendered to, and its token ids. */
    public record Prompt(String text, int[] ids) {
    }

    private final ChatTemplate template;
    private final TextTokenizer tokenizer;
    private final Map<String, String> tokenTexts;

    /** @param template the model's chat template, or null when it has none */
    public ChatPrompts(ChatTemplate template, TextTokenizer tokenizer) {
        this(template, tokenizer, Map.of());
    }

    /**
     * @param tokenTexts what the template sees as {@code bos_token}, {@code eos_token}...: the model's
     *                   {@code tokenizer_config.json} names them ({@link ChatTemplates#specialTokenTexts}); a name
     *                   it leaves out gets the tokenizer's own BOS / EOS text
     */
    public ChatPrompts(ChatTemplate template, TextTokenizer tokenizer, Map<String, String> tokenTexts) {
        this.template = template;
        this.tokenizer = tokenizer;
        this.tokenTexts = Map.copyOf(tokenTexts);
    }

    public boolean hasTemplate() {
        return template != null;
    }

    /**
     * Renders with the model's chat template. The ids get no BOS beyond what the template writes: a template that
     * starts with {@code bos_token} gets exactly one.
     *
     * @param messages plain JSON values, passed to the template as they are
     * @throws IllegalStateException when the model has no chat template ({@link #hasTemplate()})
     * @throws ChatTemplateException when the template rejects the conversation
     */
    public Prompt render(List<?> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, null);
    }

    /**
     * As {@link #render(List, boolean)}, with more variables for the template (a request's
     * {@code chat_template_kwargs}); they cannot replace the special-token texts.
     *
     * @param variables plain JSON values by name, or null
     */
    public Prompt render(List<?> messages, boolean addGenerationPrompt, Map<String, Object> variables) {
        if (template == null) {
            throw new IllegalStateException("the model has no chat template");
        }
        Map<String, Object> vars = new HashMap<>();
        if (variables != null) {
            vars.putAll(variables);
        }
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("tools", null);
        vars.put("documents", null);
        vars.put("bos_token", tokenizer.specialTokenText(tokenizer.bosId()));
        vars.put("eos_token", tokenizer.specialTokenText(tokenizer.eosId()));
        vars.putAll(tokenTexts);
        String text = template.render(messages, vars);
        return new Prompt(text, tokenizer.encodeRendered(text));
    }

    /**
     * Fills a pyreft-style prompt template ({@code %s} once) with a message and tokenizes it as pyreft tokenizes
     * its training prompts: with the tokenizer's BOS first, unless the template already starts with it.
     */
    public Prompt fill(String promptTemplate, String message) {
        int at = promptTemplate.indexOf("%s");
        String text = promptTemplate.substring(0, at) + message + promptTemplate.substring(at + 2);
        int[] ids = tokenizer.encodeRendered(text);
        int bos = tokenizer.bosId();
        if (bos >= 0 && (ids.length == 0 || ids[0] != bos)) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = bos;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            ids = withBos;
        }
        return new Prompt(text, ids);
    }
}

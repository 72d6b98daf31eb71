package dev.reftserver.api;

import dev.reftserver.engine.TokenLogprobs;
import dev.reftserver.tokenizer.TextTokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One choice's log-probabilities, built as the engine reports tokens, in OpenAI's completions shape and in its chat
 * shape. Each token (and each alternative) is shown as the text it adds after everything before it. Completions:
 * {@code text_offset} counts characters (code points, as Python does) from the start of the choice's returned text
 * (which, with echo, begins with the prompt), and {@code top_logprobs} maps texts to log-probabilities and always
 * holds the token itself, so an entry may have N + 1 items. Chat: each entry has the token, its log-probability,
 * the token's own bytes ({@link TextTokenizer#tokenBytes}) and exactly the N most likely alternatives, most likely
 * first (two alternatives may show the same text). Streaming takes the entries added since its last chunk with
 * {@link #drain()}.
 */
final class ChoiceLogprobs {

    /** Ids decoded before a token to find its text: enough for any merge or multi-byte character to settle. */
    private static final int WINDOW = 8;

    private final TextTokenizer tokenizer;
    private int[] context;
    private int length;
    private int offset;
    private final List<String> tokens = new ArrayList<>();
    private final List<Float> tokenLogprobs = new ArrayList<>();
    private final List<Map<String, Float>> topLogprobs = new ArrayList<>();
    private final List<Integer> textOffsets = new ArrayList<>();
    private final List<ChatCompletionResponse.TokenLogprob> chat = new ArrayList<>();
    private int drained;

    /**
     * @param prompt the prompt's ids: the context of the first generated token
     * @param echo   whether prompt entries come first (then the context starts empty and grows with them)
     */
    ChoiceLogprobs(TextTokenizer tokenizer, int[] prompt, boolean echo) {
        this.tokenizer = tokenizer;
        this.context = Arrays.copyOf(prompt, prompt.length + 16);
        this.length = echo ? 0 : prompt.length;
    }

    /** The prompt's entries (echo); entry 0, which nothing predicts, has a null log-probability. */
    synchronized void prompt(int[] prompt, TokenLogprobs[] entries) {
        for (int t = 0; t < prompt.length; t++) {
            add(prompt[t], entries[t]);
        }
    }

    synchronized void generated(TokenLogprobs entry) {
        add(entry.id(), entry);
    }

    private void add(int id, TokenLogprobs entry) {
        String before = tokenizer.decode(window());
        String text = textAfter(before, id);
        tokens.add(text);
        textOffsets.add(offset);
        offset += text.codePointCount(0, text.length());
        if (entry == null) {
            tokenLogprobs.add(null);
            topLogprobs.add(null);
            chat.add(null);
        } else {
            tokenLogprobs.add(entry.logprob());
            Map<String, Float> top = new LinkedHashMap<>();
            List<ChatCompletionResponse.TopLogprob> chatTop = new ArrayList<>(entry.topIds().length);
            for (int k = 0; k < entry.topIds().length; k++) {
                int alt = entry.topIds()[k];
                String altText = alt == id ? text : textAfter(before, alt);
                top.putIfAbsent(altText, entry.topLogprobs()[k]);
                chatTop.add(new ChatCompletionResponse.TopLogprob(altText, entry.topLogprobs()[k],
                        bytes(alt, altText)));
            }
            top.putIfAbsent(text, entry.logprob());
            topLogprobs.add(top);
            chat.add(new ChatCompletionResponse.TokenLogprob(text, entry.logprob(), bytes(id, text), chatTop));
        }
        if (length == context.length) {
            context = Arrays.copyOf(context, context.length * 2);
        }
        context[length++] = id;
    }

    /**
     * The token's own bytes, each 0 to 255 (a byte token's may be part of a character, which its text cannot show);
     * the UTF-8 of its text where the tokenizer cannot say.
     */
    private List<Integer> bytes(int id, String text) {
        byte[] own = tokenizer.tokenBytes(id);
        byte[] b = own != null ? own : text.getBytes(StandardCharsets.UTF_8);
        List<Integer> out = new ArrayList<>(b.length);
        for (byte x : b) {
            out.add(x & 0xff);
        }
        return out;
    }

    private int[] window() {
        return Arrays.copyOfRange(context, Math.max(0, length - WINDOW), length);
    }

    /** The text {@code id} adds after the window whose text is {@code before}. */
    private String textAfter(String before, int id) {
        int[] w = window();
        int[] with = Arrays.copyOf(w, w.length + 1);
        with[w.length] = id;
        String after = tokenizer.decode(with);
        int common = 0;
        int max = Math.min(before.length(), after.length());
        while (common < max && before.charAt(common) == after.charAt(common)) {
            common++;
        }
        return after.substring(common);
    }

    synchronized boolean hasPending() {
        return drained < tokens.size();
    }

    /** Every entry so far. */
    synchronized CompletionResponse.Logprobs all() {
        return slice(0);
    }

    /** The entries since the last drain (for a streaming chunk). */
    synchronized CompletionResponse.Logprobs drain() {
        CompletionResponse.Logprobs out = slice(drained);
        drained = tokens.size();
        return out;
    }

    private CompletionResponse.Logprobs slice(int from) {
        int to = tokens.size();
        return new CompletionResponse.Logprobs(new ArrayList<>(tokens.subList(from, to)),
                new ArrayList<>(tokenLogprobs.subList(from, to)), new ArrayList<>(topLogprobs.subList(from, to)),
                new ArrayList<>(textOffsets.subList(from, to)), new ArrayList<>(chat.subList(from, to)));
    }
}

package dev.reftserver.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.time.Clock;
import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import jinjava.javax.el.CompositeELResolver;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;

/**
 * One Hugging Face chat template, rendered the way transformers' {@code apply_chat_template(tokenize=False)} renders
 * it: Jinja with {@code trim_blocks} and {@code lstrip_blocks}, loop controls, {@code namespace()}, a
 * {@code tojson} that is Python's {@code json.dumps(ensure_ascii=False)}, {@code raise_exception},
 * {@code strftime_now}, and the Python {@code str}/{@code dict} methods templates call. Thread-safe.
 */
public final class ChatTemplate {

    /** What {@code raise_exception} and {@code strftime_now} need during one render on this thread. */
    private static final ThreadLocal<RenderState> CURRENT = new ThreadLocal<>();

    private static final class RenderState {
        final Clock clock;
        String raised;

        RenderState(Clock clock) {
            this.clock = clock;
        }
    }

    private final String source;
    /** The source with the few expressions jinjava reads differently from Jinja rewritten. */
    private final String compiled;
    private final Jinjava jinjava;
    private final Clock clock;

    public ChatTemplate(String source) {
        this(source, Clock.systemDefaultZone());
    }

    /** @param clock what {@code strftime_now} reads (local time of the clock's zone, as Python's {@code now()}) */
    public ChatTemplate(String source, Clock clock) {
        this.source = Objects.requireNonNull(source, "source");
        // Jinja writes every line break as "\n" (newline_sequence) and drops the source's one final newline
        // (keep_trailing_newline=False)
        String body = source.replace("\r\n", "\n").replace('\r', '\n');
        body = body.endsWith("\n") ? body.substring(0, body.length() - 1) : body;
        this.compiled = JinjaCompat.rewrite(body);
        this.clock = clock;
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(false)
                .withElResolver(resolver)
                // what a template prints is text, never a template again: a message holding "{{ ... }}" or
                // "{% ... %}" must come out as written (as in Jinja), not be run
                .withNestedInterpretationEnabled(false)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .withEvaluateMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .build())
                .build();
        this.jinjava = new Jinjava(config);
        jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        jinjava.registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class,
                "strftimeNow", String.class));
        jinjava.registerFilter(new ToJson());
        JinjaFunctions.all().forEach(jinjava::registerFunction);
        JinjaFilters.filters().forEach(jinjava::registerFilter);
        JinjaFilters.tests().forEach(jinjava.getGlobalContext()::registerExpTest);
    }

    public String source() {
        return source;
    }

    /**
     * Renders a conversation.
     *
     * @param messages  the messages as plain JSON values (maps, lists, strings, numbers, booleans, null), passed to
     *                  the template unchanged
     * @param variables everything else the template sees: {@code add_generation_prompt}, {@code bos_token},
     *                  {@code eos_token}, {@code tools}...
     * @throws ChatTemplateException when the template rejects the conversation or fails on it
     */
    public String render(List<?> messages, Map<String, ?> variables) {
        Map<String, Object> context = new LinkedHashMap<>(variables);
        context.put("messages", messages);
        // Templates test for these before calling them (`strftime_now is defined`); jinjava resolves the calls
        // themselves as functions, so the names only need to be defined.
        context.putIfAbsent("strftime_now", "strftime_now");
        context.putIfAbsent("raise_exception", "raise_exception");
        RenderState state = new RenderState(clock);
        CURRENT.set(state);
        RenderResult result;
        try {
            result = jinjava.renderForResult(compiled, context);
        } catch (RuntimeException e) {
            // whatever jinjava does not turn into a template error itself: still the template failing on this input
            throw new ChatTemplateException(state.raised != null ? state.raised
                    : "the chat template failed: " + e.getMessage(), state.raised != null);
        } finally {
            CURRENT.remove();
        }
        if (state.raised != null) {
            throw new ChatTemplateException(state.raised, true);
        }
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException("the chat template failed: " + e.getMessage(), false);
            }
        }
        return result.getOutput();
    }

    /** {@code raise_exception(message)}: stops the render with the template's own message. */
    public static Object raiseException(String message) {
        RenderState state = CURRENT.get();
        if (state != null && state.raised == null) {
            state.raised = message;
        }
        throw new IllegalStateException(message);
    }

    /** {@code strftime_now(format)}: Python's {@code datetime.now().strftime(format)}. */
    public static String strftimeNow(String format) {
        RenderState state = CURRENT.get();
        Clock clock = state == null ? Clock.systemDefaultZone() : state.clock;
        return PyStrftime.format(LocalDateTime.now(clock), format);
    }

    /** transformers' {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent, separators, sort_keys)}. */
    private static final class ToJson implements AdvancedFilter {

        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            String itemSep = null;
            String keySep = null;
            if (kwargs.get("separators") instanceof List<?> seps && seps.size() == 2) {
                itemSep = String.valueOf(seps.get(0));
                keySep = String.valueOf(seps.get(1));
            }
            return PyJson.dumps(var, indent == null ? null : ((Number) indent).intValue(), itemSep, keySep);
        }
    }
}

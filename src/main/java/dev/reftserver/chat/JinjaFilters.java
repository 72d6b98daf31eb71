package dev.reftserver.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.objects.collections.PyList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The filters and tests a chat template gets beyond jinjava's own: Jinja's where jinjava lacks them or differs
 * ({@code min}, {@code max}, {@code items}, {@code indent}, {@code sort} and {@code dictsort} with their keyword
 * arguments, {@code truncate}'s leeway, {@code trim} and {@code string} of an undefined value; the
 * {@code iterable} and {@code sequence} tests, which hold for strings and dicts too), and the ones the
 * {@link JinjaFunctions} call: a loop's filter and what a template prints.
 */
final class JinjaFilters {

    private JinjaFilters() {
    }

    /** What a filter makes of the value it filters and its arguments. */
    @FunctionalInterface
    interface Body {
        Object apply(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs);
    }

    /** A filter by its name and body. */
    record Named(String name, Body body) implements AdvancedFilter {

        @Override
        public String getName() {
            return name;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return body.apply(var, interpreter, args, kwargs);
        }
    }

    /** Every filter this class adds. */
    static List<AdvancedFilter> filters() {
        return List.of(
                new Named("min", (v, i, a, k) -> extreme(v, false)),
                new Named("max", (v, i, a, k) -> extreme(v, true)),
                new Named("items", (v, i, a, k) -> items(v)),
                new Named("trim", (v, i, a, k) -> PyMethods.strip(text(v), chars(a, k), true, true)),
                new Named("string", (v, i, a, k) -> text(v)),
                new Named("indent", (v, i, a, k) -> indent(v, a, k)),
                new Named("sort", (v, i, a, k) -> sort(v, a, k)),
                new Named("dictsort", (v, i, a, k) -> dictsort(v, a, k)),
                new Named("truncate", (v, i, a, k) -> truncate(v, a, k)),
                // Python's list(x): a dict's keys, a string's characters (jinjava wraps either in a one-item list)
                new Named("list", (v, i, a, k) -> v == null ? null : JinjaFunctions.iter(v) instanceof List<?> l
                        ? new PyList(new ArrayList<>(l)) : JinjaFunctions.list(v)));
    }

    /** Every test this class adds. */
    static List<ExpTest> tests() {
        return List.of(new IterableTest("iterable"), new IterableTest("sequence"));
    }

    /** Jinja's {@code min} or {@code max} of a sequence (None when empty). */
    private static Object extreme(Object var, boolean max) {
        if (var == null) {
            return null;
        }
        Object best = null;
        for (Object x : PyFilters.items(var instanceof CharSequence s ? characters(s) : var)) {
            if (best == null || (max ? compare(x, best) > 0 : compare(x, best) < 0)) {
                best = x;
            }
        }
        return best;
    }

    static List<String> characters(CharSequence s) {
        List<String> out = new ArrayList<>();
        s.codePoints().forEach(c -> out.add(new String(Character.toChars(c))));
        return out;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static int compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return Double.compare(x.doubleValue(), y.doubleValue());
        }
        if (a instanceof Comparable c && a.getClass().isInstance(b)) {
            return c.compareTo(b);
        }
        throw new IllegalArgumentException("cannot compare " + a + " and " + b);
    }

    /** Jinja's {@code items}: a dict's (key, value) pairs. */
    private static Object items(Object var) {
        if (var == null) {
            return new PyList(new ArrayList<>());
        }
        if (!(var instanceof Map<?, ?> map)) {
            throw new IllegalArgumentException("can only get item pairs from a mapping");
        }
        List<Object> out = new ArrayList<>(map.size());
        map.forEach((k, v) -> out.add(Arrays.asList(k, v)));
        return new PyList(out);
    }

    /**
     * The items of xs for which {@code condition} holds with the loop's {@code target} bound to the item
     * ({@code "k, v"} unpacks a pair), as Jinja's {@code for x in xs if cond} filters before the loop counts.
     */
    static Object loopIf(Object var, JinjavaInterpreter interpreter, String target, String condition) {
        if (var == null) {
            return new PyList(new ArrayList<>());
        }
        String[] targets = target.split("\\s*,\\s*");
        List<?> items = var instanceof Map<?, ?> map ? new ArrayList<>(map.keySet())
                : PyFilters.items(var instanceof CharSequence s ? characters(s) : var);
        List<Object> out = new ArrayList<>();
        for (Object item : items) {
            try (var scope = interpreter.enterScope()) {
                bind(interpreter, targets, item);
                if (truthy(interpreter.resolveELExpression(condition, interpreter.getLineNumber()))) {
                    out.add(item);
                }
            }
        }
        return new PyList(out);
    }

    private static void bind(JinjavaInterpreter interpreter, String[] targets, Object item) {
        if (targets.length == 1) {
            interpreter.getContext().put(targets[0].strip(), item);
            return;
        }
        List<?> parts = item instanceof Map.Entry<?, ?> e ? Arrays.asList(e.getKey(), e.getValue())
                : PyFilters.items(item);
        if (parts.size() != targets.length) {
            throw new IllegalArgumentException("cannot unpack " + parts.size() + " values into " + targets.length);
        }
        for (int i = 0; i < targets.length; i++) {
            interpreter.getContext().put(targets[i].strip(), parts.get(i));
        }
    }

    /** Python truth: None, False, zero and empty strings and collections are false. */
    private static boolean truthy(Object v) {
        if (v == null) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (v instanceof CharSequence s) {
            return s.length() > 0;
        }
        if (v instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    /**
     * What {@code {{ x }}} prints: booleans, lists and dicts as Python's {@code str()} writes them, anything else as
     * jinjava prints it. Undefined (null) prints nothing, as in Jinja; None cannot be told from it here.
     */
    static Object print(Object var) {
        return var instanceof Boolean || var instanceof Map<?, ?> || var instanceof Collection<?>
                ? PyRepr.str(var) : var;
    }

    /** Python's {@code str()}, where an undefined value (jinjava's null) is the empty string, not "null". */
    private static String text(Object var) {
        return var == null ? "" : PyRepr.str(var);
    }

    /** {@code trim}'s {@code chars} argument, or null for whitespace. */
    private static String chars(Object[] args, Map<String, Object> kwargs) {
        Object chars = kwargs.containsKey("chars") ? kwargs.get("chars") : args.length > 0 ? args[0] : null;
        return chars == null ? null : String.valueOf(chars);
    }

    /** Jinja's {@code indent(width=4, first=False, blank=False)}; width may be a string to indent with. */
    private static String indent(Object var, Object[] args, Map<String, Object> kwargs) {
        Object width = argument(args, kwargs, 0, "width", 4L);
        boolean first = truthy(argument(args, kwargs, 1, "first", false));
        boolean blank = truthy(argument(args, kwargs, 2, "blank", false));
        String indention = width instanceof Number n ? " ".repeat(Math.max(0, n.intValue())) : String.valueOf(width);
        List<String> lines = PyMethods.splitlines(text(var) + "\n");
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (i > 0) {
                out.append('\n');
            }
            boolean indent = i == 0 ? first : blank || !line.isEmpty();
            out.append(indent ? indention : "").append(line);
        }
        return out.toString();
    }

    /** Jinja's {@code sort(reverse=False, case_sensitive=False, attribute=None)}: stable, strings by lower case. */
    private static Object sort(Object var, Object[] args, Map<String, Object> kwargs) {
        if (var == null) {
            return new PyList(new ArrayList<>());
        }
        boolean reverse = truthy(argument(args, kwargs, 0, "reverse", false));
        boolean caseSensitive = truthy(argument(args, kwargs, 1, "case_sensitive", false));
        Object attribute = argument(args, kwargs, 2, "attribute", null);
        List<Object> items = new ArrayList<>(PyFilters.items(var instanceof CharSequence s ? characters(s) : var));
        Comparator<Object> order = (x, y) -> compare(key(attribute(x, attribute), caseSensitive),
                key(attribute(y, attribute), caseSensitive));
        items.sort(reverse ? order.reversed() : order);
        return new PyList(items);
    }

    /** Jinja's {@code dictsort(case_sensitive=False, by='key', reverse=False)}: a dict's (key, value) pairs. */
    private static Object dictsort(Object var, Object[] args, Map<String, Object> kwargs) {
        if (!(var instanceof Map<?, ?> map)) {
            throw new IllegalArgumentException("dictsort needs a mapping");
        }
        boolean caseSensitive = truthy(argument(args, kwargs, 0, "case_sensitive", false));
        Object by = argument(args, kwargs, 1, "by", "key");
        boolean reverse = truthy(argument(args, kwargs, 2, "reverse", false));
        int at = switch (String.valueOf(by)) {
            case "key" -> 0;
            case "value" -> 1;
            default -> throw new IllegalArgumentException("You can only sort by either \"key\" or \"value\"");
        };
        List<List<Object>> pairs = new ArrayList<>();
        map.forEach((k, v) -> pairs.add(Arrays.asList(k, v)));
        Comparator<List<Object>> order = (x, y) -> compare(key(x.get(at), caseSensitive),
                key(y.get(at), caseSensitive));
        pairs.sort(reverse ? order.reversed() : order);
        return new PyList(new ArrayList<>(pairs));
    }

    private static Object key(Object v, boolean caseSensitive) {
        return !caseSensitive && v instanceof CharSequence s ? s.toString().toLowerCase(java.util.Locale.ROOT) : v;
    }

    /** An item's attribute or key by a dotted path ({@code "a.b"}; a number indexes a list), or the item itself. */
    private static Object attribute(Object item, Object path) {
        if (path == null) {
            return item;
        }
        Object v = item;
        for (String part : String.valueOf(path).split("\\.")) {
            if (v instanceof Map<?, ?> m) {
                v = m.get(part);
            } else if (v instanceof List<?> l && part.matches("-?\\d+")) {
                v = l.get(Math.floorMod(Integer.parseInt(part), l.size()));
            } else {
                v = null;
            }
        }
        return v;
    }

    /** Jinja's {@code truncate(length=255, killwords=False, end='...', leeway=5)}. */
    private static Object truncate(Object var, Object[] args, Map<String, Object> kwargs) {
        String s = text(var);
        int length = ((Number) argument(args, kwargs, 0, "length", 255L)).intValue();
        boolean killwords = truthy(argument(args, kwargs, 1, "killwords", false));
        String end = String.valueOf(argument(args, kwargs, 2, "end", "..."));
        int leeway = ((Number) argument(args, kwargs, 3, "leeway", 5L)).intValue();
        if (length < end.length()) {
            throw new IllegalArgumentException("expected length >= " + end.length() + ", got " + length);
        }
        if (s.length() <= length + leeway) {
            return s;
        }
        String head = s.substring(0, length - end.length());
        if (!killwords) {
            int space = head.lastIndexOf(' ');
            head = space >= 0 ? head.substring(0, space) : head;
        }
        return head + end;
    }

    private static Object argument(Object[] args, Map<String, Object> kwargs, int position, String name,
            Object otherwise) {
        return kwargs.containsKey(name) ? kwargs.get(name) : args.length > position ? args[position] : otherwise;
    }

    /** Jinja's {@code iterable} (and {@code sequence}) test: strings and dicts are iterable too. */
    private record IterableTest(String name) implements ExpTest {

        @Override
        public String getName() {
            return name;
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return var != null && (var instanceof Iterable<?> || var.getClass().isArray()
                    || var instanceof CharSequence || var instanceof Map<?, ?>);
        }
    }
}

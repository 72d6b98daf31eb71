package dev.reftserver.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.objects.collections.PyList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Jinja's filters and tests as Jinja has them where jinjava lacks them or differs: {@code min}, {@code max},
 * {@code items}, {@code indent}, {@code trim} and {@code string} of an undefined value, the {@code iterable} and
 * {@code sequence} tests (strings and dicts are both); {@code py_loop_if}, the loop filter {@link JinjaBlocks}
 * rewrites {@code for x in xs if cond} to; and {@code py_print}, which {@link JinjaCompat} applies to what a template
 * prints.
 */
final class JinjaFilters {

    private JinjaFilters() {
    }

    /** Jinja's {@code min} and {@code max} of a sequence (None when empty). */
    static final class Extreme implements AdvancedFilter {

        private final boolean max;

        Extreme(boolean max) {
            this.max = max;
        }

        @Override
        public String getName() {
            return max ? "max" : "min";
        }

        @Override
        @SuppressWarnings({"unchecked", "rawtypes"})
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (var == null) {
                return null;
            }
            Object best = null;
            for (Object x : PyFilters.Slice.items(var instanceof CharSequence s ? splitChars(s) : var)) {
                if (best == null || (max ? compare(x, best) > 0 : compare(x, best) < 0)) {
                    best = x;
                }
            }
            return best;
        }

        static List<String> splitChars(CharSequence s) {
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
    }

    /** Jinja's {@code items}: a dict's (key, value) pairs. */
    static final class Items implements AdvancedFilter {

        @Override
        public String getName() {
            return "items";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
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
    }

    /**
     * {@code xs|py_loop_if('x', 'cond')}: the items of xs for which cond holds with the loop's target bound to the
     * item ({@code 'k, v'} unpacks a pair), as Jinja's {@code for x in xs if cond} filters before the loop counts.
     */
    static final class LoopIf implements AdvancedFilter {

        @Override
        public String getName() {
            return "py_loop_if";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (var == null) {
                return new PyList(new ArrayList<>());
            }
            String[] targets = String.valueOf(args[0]).split("\\s*,\\s*");
            String condition = String.valueOf(args[1]);
            List<?> items = var instanceof Map<?, ?> map ? new ArrayList<>(map.keySet())
                    : PyFilters.Slice.items(var instanceof CharSequence s ? Extreme.splitChars(s) : var);
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
                    : PyFilters.Slice.items(item);
            if (parts.size() != targets.length) {
                throw new IllegalArgumentException("cannot unpack " + parts.size() + " values into " + targets.length);
            }
            for (int i = 0; i < targets.length; i++) {
                interpreter.getContext().put(targets[i].strip(), parts.get(i));
            }
        }

        /** Python truth: None, False, zero and empty strings and collections are false. */
        static boolean truthy(Object v) {
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
    }

    /** Jinja's {@code iterable} (and {@code sequence}) test: strings and dicts are iterable too. */
    static final class IterableTest implements ExpTest {

        private final String name;

        IterableTest(String name) {
            this.name = name;
        }

        @Override
        public String getName() {
            return name;
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return var != null && (var instanceof java.lang.Iterable<?> || var.getClass().isArray()
                    || var instanceof CharSequence || var instanceof Map<?, ?>);
        }
    }

    /**
     * Jinja's {@code trim} and {@code string}, where an undefined value (jinjava's null) is the empty string, not
     * "null", and {@code string} spells booleans as Python does.
     */
    static final class Text implements AdvancedFilter {

        private final boolean trim;

        Text(boolean trim) {
            this.trim = trim;
        }

        @Override
        public String getName() {
            return trim ? "trim" : "string";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            String s = var == null ? "" : PyFilters.Format.str(var);
            if (!trim) {
                return s;
            }
            Object chars = kwargs.containsKey("chars") ? kwargs.get("chars") : args.length > 0 ? args[0] : null;
            return PyMethods.strip(s, chars == null ? null : String.valueOf(chars), true, true);
        }
    }

    /** Jinja's {@code indent(width=4, first=False, blank=False)}; width may be a string to indent with. */
    static final class Indent implements AdvancedFilter {

        @Override
        public String getName() {
            return "indent";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object width = kwargs.containsKey("width") ? kwargs.get("width") : args.length > 0 ? args[0] : 4L;
            boolean first = LoopIf.truthy(kwargs.containsKey("first") ? kwargs.get("first")
                    : args.length > 1 ? args[1] : false);
            boolean blank = LoopIf.truthy(kwargs.containsKey("blank") ? kwargs.get("blank")
                    : args.length > 2 ? args[2] : false);
            String indention = width instanceof Number n ? " ".repeat(Math.max(0, n.intValue())) : String.valueOf(width);
            List<String> lines = PyMethods.splitlines((var == null ? "" : PyFilters.Format.str(var)) + "\n");
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
    }

    /**
     * What {@code {{ x }}} prints: booleans, lists and dicts as Python's {@code str()} writes them, anything else
     * as jinjava prints it.
     */
    static final class Print implements AdvancedFilter {

        @Override
        public String getName() {
            return "py_print";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            // undefined (null) prints nothing, as in Jinja; None cannot be told from it here
            return var instanceof Boolean || var instanceof Map<?, ?> || var instanceof Collection<?>
                    ? PyRepr.str(var) : var;
        }
    }
}

package dev.reftserver.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.objects.collections.PyList;
import com.hubspot.jinjava.objects.serialization.PyishObjectMapper;
import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Python operations {@link JinjaCompat} rewrites templates to call as filters: slicing ({@code x[a:b:c]}) and
 * printf-style formatting ({@code 'fmt' % args}), repetition ({@code 'text' * n}), with Python's semantics; and
 * Jinja's {@code min}, {@code max} and {@code items} filters, which jinjava lacks; a {@code for} loop's filter
 * ({@code for x in xs if cond}); and Jinja's {@code iterable} and {@code sequence} tests, which hold for strings and
 * dicts too.
 */
final class PyFilters {

    private PyFilters() {
    }

    /** {@code x|py_slice(start, stop, step)}: {@code x[start:stop:step]} of a string or a sequence. */
    static final class Slice implements AdvancedFilter {

        @Override
        public String getName() {
            return "py_slice";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (var == null) {
                return null;
            }
            Integer start = index(args, 0);
            Integer stop = index(args, 1);
            Integer step = index(args, 2);
            if (var instanceof CharSequence s) {
                int[] at = indices(s.length(), start, stop, step);
                StringBuilder out = new StringBuilder();
                for (int i = 0; i < at.length; i++) {
                    out.append(s.charAt(at[i]));
                }
                return out.toString();
            }
            List<?> items = items(var);
            int[] at = indices(items.size(), start, stop, step);
            List<Object> out = new ArrayList<>(at.length);
            for (int i : at) {
                out.add(items.get(i));
            }
            return new PyList(out);
        }

        static List<?> items(Object var) {
            if (var instanceof List<?> list) {
                return list;
            }
            if (var.getClass().isArray()) {
                List<Object> out = new ArrayList<>();
                for (int i = 0; i < Array.getLength(var); i++) {
                    out.add(Array.get(var, i));
                }
                return out;
            }
            if (var instanceof Iterable<?> it) {
                List<Object> out = new ArrayList<>();
                it.forEach(out::add);
                return out;
            }
            throw new IllegalArgumentException("'" + var.getClass().getSimpleName() + "' object is not subscriptable");
        }

        private static Integer index(Object[] args, int i) {
            if (i >= args.length || args[i] == null) {
                return null;
            }
            if (args[i] instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
                return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, n.longValue()));
            }
            throw new IllegalArgumentException("slice indices must be integers or None");
        }

        /** The indexes {@code range(len)[start:stop:step]} selects, as Python's {@code slice.indices}. */
        static int[] indices(int len, Integer start, Integer stop, Integer step) {
            int st = step == null ? 1 : step;
            if (st == 0) {
                throw new IllegalArgumentException("slice step cannot be zero");
            }
            int lower = st > 0 ? 0 : -1;
            int upper = st > 0 ? len : len - 1;
            int a = start == null ? (st > 0 ? lower : upper) : clamp(start, len, lower, upper);
            int b = stop == null ? (st > 0 ? upper : lower) : clamp(stop, len, lower, upper);
            int n = st > 0 ? (b > a ? (b - a + st - 1) / st : 0) : (a > b ? (a - b - st - 1) / -st : 0);
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = a + i * st;
            }
            return out;
        }

        private static int clamp(int i, int len, int lower, int upper) {
            long v = i < 0 ? (long) i + len : i;
            return (int) Math.max(lower, Math.min(upper, v));
        }
    }

    /** {@code fmt|py_format(args...)}: Python's {@code fmt % args}. */
    static final class Format implements AdvancedFilter {

        private static final Pattern SPEC = Pattern.compile("%([-+ #0]*)(\\d+|\\*)?(?:\\.(\\d+))?([diouxXeEfFgGcrsa%])");

        @Override
        public String getName() {
            return "py_format";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            String fmt = String.valueOf(var);
            Matcher m = SPEC.matcher(fmt);
            StringBuilder out = new StringBuilder();
            int next = 0;
            int at = 0;
            while (m.find()) {
                out.append(fmt, at, m.start());
                at = m.end();
                char type = m.group(4).charAt(0);
                if (type == '%') {
                    out.append('%');
                    continue;
                }
                if (next >= args.length) {
                    throw new IllegalArgumentException("not enough arguments for format string");
                }
                out.append(one(m.group(1), m.group(2), m.group(3), type, args[next++]));
            }
            if (at < fmt.length() && fmt.indexOf('%', at) >= 0) {
                throw new IllegalArgumentException("incomplete format");
            }
            if (next < args.length) {
                throw new IllegalArgumentException("not all arguments converted during string formatting");
            }
            return out.append(fmt, at, fmt.length()).toString();
        }

        private static String one(String flags, String width, String precision, char type, Object value) {
            String javaFlags = flags.replace("#", "");
            String spec = "%" + javaFlags + (width == null ? "" : width);
            return switch (type) {
                case 'd', 'i', 'u' -> String.format(Locale.ROOT, spec + "d", integer(value));
                case 'o' -> String.format(Locale.ROOT, spec + "o", integer(value));
                case 'x', 'X' -> String.format(Locale.ROOT, spec + type, integer(value));
                case 'e', 'E', 'f', 'F', 'g', 'G' -> String.format(Locale.ROOT,
                        spec + "." + (precision == null ? "6" : precision) + Character.toLowerCase(type == 'F' ? 'f'
                                : type), number(value).doubleValue());
                case 'c' -> pad(flags, width, value instanceof Number n ? String.valueOf((char) n.intValue())
                        : String.valueOf(value));
                case 'r', 'a' -> pad(flags, width, truncate(PyishObjectMapper.getAsPyishString(value), precision));
                default -> pad(flags, width, truncate(str(value), precision));
            };
        }

        static String str(Object value) {
            if (value == null) {
                return "None";
            }
            if (value instanceof Boolean b) {
                return b ? "True" : "False";
            }
            if (value instanceof Double || value instanceof Float) {
                return PyJson.pyFloat(((Number) value).doubleValue());
            }
            return value instanceof CharSequence || value instanceof Number ? value.toString()
                    : PyishObjectMapper.getAsPyishString(value);
        }

        private static String truncate(String s, String precision) {
            return precision == null ? s : s.substring(0, Math.min(s.length(), Integer.parseInt(precision)));
        }

        private static String pad(String flags, String width, String s) {
            if (width == null || s.length() >= Integer.parseInt(width)) {
                return s;
            }
            String fill = " ".repeat(Integer.parseInt(width) - s.length());
            return flags.contains("-") ? s + fill : fill + s;
        }

        private static Number number(Object value) {
            if (value instanceof Number n) {
                return n;
            }
            if (value instanceof Boolean b) {
                return b ? 1 : 0;
            }
            throw new IllegalArgumentException("a real number is required, not " + typeName(value));
        }

        private static long integer(Object value) {
            Number n = number(value);
            return n instanceof Double || n instanceof Float ? (long) n.doubleValue() : n.longValue();
        }

        private static String typeName(Object value) {
            return value == null ? "NoneType" : value instanceof CharSequence ? "str" : value.getClass().getSimpleName();
        }
    }

    /** {@code text|py_repeat(n)}: Python's {@code text * n}. */
    static final class Repeat implements AdvancedFilter {

        @Override
        public String getName() {
            return "py_repeat";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (args.length != 1 || !(args[0] instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
                throw new IllegalArgumentException("can't multiply sequence by non-int");
            }
            String s = String.valueOf(var);
            long times = Math.max(0, n.longValue());
            if (s.length() * times > MAX_REPEAT) {
                throw new IllegalArgumentException("repeated string too long");
            }
            return s.repeat((int) times);
        }
    }

    /** A repetition's limit: chat templates repeat separators, not megabytes. */
    private static final long MAX_REPEAT = 1 << 20;

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
            for (Object x : Slice.items(var instanceof CharSequence s ? splitChars(s) : var)) {
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
            map.forEach((k, v) -> out.add(java.util.Arrays.asList(k, v)));
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
                    : Slice.items(var instanceof CharSequence s ? Extreme.splitChars(s) : var);
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
            List<?> parts = item instanceof Map.Entry<?, ?> e ? java.util.Arrays.asList(e.getKey(), e.getValue())
                    : Slice.items(item);
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
            if (v instanceof java.util.Collection<?> c) {
                return !c.isEmpty();
            }
            if (v instanceof Map<?, ?> m) {
                return !m.isEmpty();
            }
            return true;
        }
    }

    /** Jinja's {@code iterable} (and {@code sequence}) test: strings and dicts are iterable too. */
    static final class IterableTest implements com.hubspot.jinjava.lib.exptest.ExpTest {

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
            String s = var == null ? "" : Format.str(var);
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
            List<String> lines = PyMethods.splitlines((var == null ? "" : Format.str(var)) + "\n");
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
}

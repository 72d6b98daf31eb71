package dev.reftserver.chat;

import com.hubspot.jinjava.objects.collections.PyList;
import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Python operations {@link JinjaCompat} rewrites templates to call ({@link JinjaFunctions}' {@code py_slice},
 * {@code py_format}, {@code py_repeat}): slicing ({@code x[a:b:c]}), printf-style formatting ({@code 'fmt' % args})
 * and repetition ({@code 'text' * n}), with Python's semantics.
 */
final class PyFilters {

    private PyFilters() {
    }

    /** {@code x[start:stop:step]} of a string or a sequence; args: start, stop, step (each may be null). */
    static Object slice(Object var, Object[] args) {
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

    /** One conversion of a printf-style format: flags, width, precision, type. */
    private static final Pattern SPEC = Pattern.compile("%([-+ #0]*)(\\d+|\\*)?(?:\\.(\\d+))?([diouxXeEfFgGcrsa%])");

    /** Python's {@code fmt % args}. */
    static Object format(Object var, Object[] args) {
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
            case 'r', 'a' -> pad(flags, width, truncate(PyRepr.repr(value), precision));
            default -> pad(flags, width, truncate(PyRepr.str(value), precision));
        };
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

    /** Python's {@code text * n}; args: n. */
    static Object repeat(Object var, Object[] args) {
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

    /** A repetition's limit: chat templates repeat separators, not megabytes. */
    private static final long MAX_REPEAT = 1 << 20;
}

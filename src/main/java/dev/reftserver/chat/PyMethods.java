package dev.reftserver.chat;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The Python {@code str} and {@code dict} methods that chat templates call ({@code content.strip()},
 * {@code role.startswith('u')}, {@code message.get('tool_calls')}, {@code tool.items()}...), which Java objects do
 * not have under those names or with those semantics. Read-only, like transformers' immutable sandbox: nothing here
 * changes a list or a dict.
 */
final class PyMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || method == null) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        String name = method.toString();
        Object result;
        if (base instanceof CharSequence s) {
            result = stringMethod(s.toString(), name, args);
        } else if (base instanceof Map<?, ?> map) {
            result = mapMethod(map, name, args);
        } else {
            return null;
        }
        if (result != NONE) {
            context.setPropertyResolved(true);
            return result == NULL ? null : result;
        }
        return null;
    }

    /** Marks "not a method this resolver knows": the next resolver gets the call. */
    private static final Object NONE = new Object();
    /** A known method whose Python result is None. */
    private static final Object NULL = new Object();

    private static Object stringMethod(String s, String name, Object[] a) {
        return switch (name) {
            case "strip" -> strip(s, chars(a), true, true);
            case "lstrip" -> strip(s, chars(a), true, false);
            case "rstrip" -> strip(s, chars(a), false, true);
            case "startswith" -> anyPrefix(s, a, true);
            case "endswith" -> anyPrefix(s, a, false);
            case "split" -> split(s, a.length > 0 ? a[0] : null, a.length > 1 ? ((Number) a[1]).intValue() : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, str(a[0]), str(a[1]), a.length > 2 ? ((Number) a[2]).intValue() : -1);
            case "rsplit" -> rsplit(s, a.length > 0 ? a[0] : null, a.length > 1 ? ((Number) a[1]).intValue() : -1);
            case "splitlines" -> splitlines(s);
            case "find" -> (long) s.indexOf(str(a[0]));
            case "rfind" -> (long) s.lastIndexOf(str(a[0]));
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.chars().allMatch(Character::isLetterOrDigit);
            case "islower" -> s.chars().anyMatch(Character::isLowerCase) && s.equals(s.toLowerCase(Locale.ROOT));
            case "isupper" -> s.chars().anyMatch(Character::isUpperCase) && s.equals(s.toUpperCase(Locale.ROOT));
            case "removeprefix" -> s.startsWith(str(a[0])) ? s.substring(str(a[0]).length()) : s;
            case "removesuffix" -> !str(a[0]).isEmpty() && s.endsWith(str(a[0]))
                    ? s.substring(0, s.length() - str(a[0]).length()) : s;
            case "count" -> (long) count(s, str(a[0]));
            case "join" -> join(s, a[0]);
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            default -> NONE;
        };
    }

    private static Object mapMethod(Map<?, ?> map, String name, Object[] a) {
        return switch (name) {
            case "get" -> {
                if (a.length == 0) {
                    yield NONE;
                }
                Object v = map.containsKey(a[0]) ? map.get(a[0]) : a.length > 1 ? a[1] : null;
                yield v == null ? NULL : v;
            }
            case "items" -> {
                List<Object> items = new ArrayList<>(map.size());
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    // a (key, value) pair; the value may be None
                    items.add(java.util.Arrays.asList(e.getKey(), e.getValue()));
                }
                yield items;
            }
            case "keys" -> new ArrayList<>(map.keySet());
            case "values" -> new ArrayList<>(map.values());
            default -> NONE;
        };
    }

    private static String chars(Object[] a) {
        return a.length == 0 || a[0] == null ? null : str(a[0]);
    }

    private static String str(Object o) {
        return o == null ? "None" : o.toString();
    }

    /** Python strip: with no chars, any whitespace; otherwise any of the given characters. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && strips(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && strips(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean strips(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static boolean anyPrefix(String s, Object[] a, boolean prefix) {
        if (a.length == 0) {
            return false;
        }
        List<String> candidates = new ArrayList<>();
        if (a[0] instanceof Collection<?> c) {
            c.forEach(x -> candidates.add(str(x)));
        } else {
            candidates.add(str(a[0]));
        }
        for (String c : candidates) {
            if (prefix ? s.startsWith(c) : s.endsWith(c)) {
                return true;
            }
        }
        return false;
    }

    /** Python split: no separator splits on runs of whitespace and drops empty ends; a separator splits exactly. */
    static List<String> split(String s, Object sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && Character.isWhitespace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(s.substring(i));
                    break;
                }
                int j = i;
                while (j < n && !Character.isWhitespace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        String separator = str(sep);
        if (separator.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int at = s.indexOf(separator, from);
            if (at < 0) {
                break;
            }
            out.add(s.substring(from, at));
            from = at + separator.length();
        }
        out.add(s.substring(from));
        return out;
    }

    /** Python rsplit: split from the right, at most maxSplit times. */
    static List<String> rsplit(String s, Object sep, int maxSplit) {
        if (maxSplit < 0) {
            return split(s, sep, -1);
        }
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int j = s.length();
            while (true) {
                while (j > 0 && Character.isWhitespace(s.charAt(j - 1))) {
                    j--;
                }
                if (j == 0) {
                    break;
                }
                if (out.size() == maxSplit) {
                    out.add(0, s.substring(0, j));
                    break;
                }
                int i = j;
                while (i > 0 && !Character.isWhitespace(s.charAt(i - 1))) {
                    i--;
                }
                out.add(0, s.substring(i, j));
                j = i;
            }
            return out;
        }
        String separator = str(sep);
        if (separator.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int to = s.length();
        while (out.size() < maxSplit) {
            int at = s.lastIndexOf(separator, to - separator.length());
            if (at < 0) {
                break;
            }
            out.add(0, s.substring(at + separator.length(), to));
            to = at;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    private static final java.util.regex.Pattern LINE_BREAK =
            java.util.regex.Pattern.compile("\\r\\n|[\\n\\r\\u000b\\f\\u001c\\u001d\\u001e\\u0085\\u2028\\u2029]");

    /** Python splitlines: a final line break ends the last line rather than starting an empty one. */
    static List<String> splitlines(String s) {
        List<String> out = new ArrayList<>(List.of(LINE_BREAK.split(s, -1)));
        if (out.get(out.size() - 1).isEmpty()) {
            out.remove(out.size() - 1);
        }
        return out;
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            out.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousCased = Character.isLetter(c);
        }
        return out.toString();
    }

    private static String replace(String s, String old, String with, int count) {
        if (count < 0) {
            return s.replace(old, with);
        }
        StringBuilder out = new StringBuilder();
        int from = 0;
        for (int done = 0; done < count; done++) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            out.append(s, from, at).append(with);
            from = at + old.length();
        }
        return out.append(s.substring(from)).toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1;
        }
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String sep, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) {
            it.forEach(x -> parts.add(str(x)));
        }
        return String.join(sep, parts);
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    private static final java.util.regex.Pattern INDEX = java.util.regex.Pattern.compile("-?\\d{1,9}");

    /** A string's character by index ({@code s[0]}, {@code s[-1]}), which jinjava does not resolve. */
    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        // jinjava passes the index as its decimal string
        if (base instanceof CharSequence s && property != null && INDEX.matcher(property.toString()).matches()) {
            long index = Long.parseLong(property.toString());
            long i = index < 0 ? index + s.length() : index;
            if (i < 0 || i >= s.length()) {
                throw new IndexOutOfBoundsException("string index out of range");
            }
            context.setPropertyResolved(true);
            return String.valueOf(s.charAt((int) i));
        }
        return null;
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // read-only: templates cannot change the request's data
    }
}

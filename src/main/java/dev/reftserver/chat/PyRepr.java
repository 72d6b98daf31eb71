package dev.reftserver.chat;

import java.lang.reflect.Array;
import java.util.Iterator;
import java.util.Map;

/**
 * Python's {@code str()} and {@code repr()} of the values a chat template sees (strings, numbers, booleans, None,
 * lists and dicts), for what a template prints: jinjava spells booleans and None inside a list as JSON does and
 * spaces a list of dicts oddly.
 */
final class PyRepr {

    private PyRepr() {
    }

    /** {@code str(value)}: a string as it is, anything else as its {@link #repr}. */
    static String str(Object value) {
        return value instanceof CharSequence s ? s.toString() : repr(value);
    }

    /** {@code repr(value)}. */
    static String repr(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value);
        return out.toString();
    }

    private static void write(StringBuilder out, Object v) {
        if (v == null) {
            out.append("None");
        } else if (v instanceof Boolean b) {
            out.append(b ? "True" : "False");
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            out.append(Double.isNaN(d) ? "nan" : Double.isInfinite(d) ? (d > 0 ? "inf" : "-inf") : PyJson.pyFloat(d));
        } else if (v instanceof Number n) {
            out.append(n instanceof java.math.BigDecimal d ? d.toPlainString() : n.toString());
        } else if (v instanceof CharSequence s) {
            string(out, s.toString());
        } else if (v instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                out.append(first ? "" : ", ");
                write(out, e.getKey());
                out.append(": ");
                write(out, e.getValue());
                first = false;
            }
            out.append('}');
        } else if (v instanceof Iterable<?> items) {
            out.append('[');
            for (Iterator<?> it = items.iterator(); it.hasNext(); ) {
                write(out, it.next());
                out.append(it.hasNext() ? ", " : "");
            }
            out.append(']');
        } else if (v.getClass().isArray() && !v.getClass().getComponentType().isPrimitive()) {
            out.append('[');
            for (int i = 0; i < Array.getLength(v); i++) {
                out.append(i == 0 ? "" : ", ");
                write(out, Array.get(v, i));
            }
            out.append(']');
        } else {
            out.append(v);
        }
    }

    /** A string literal as Python writes it: single quotes unless the text has one and no double quote. */
    private static void string(StringBuilder out, String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        out.append(quote);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c == quote) {
                        out.append('\\').append(c);
                    } else if (c < 0x20 || c == 0x7f) {
                        out.append(String.format("\\x%02x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append(quote);
    }
}

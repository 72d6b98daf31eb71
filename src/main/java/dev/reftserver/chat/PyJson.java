package dev.reftserver.chat;

import java.math.BigDecimal;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * Python's {@code json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=False)}, which transformers
 * installs as the chat templates' {@code tojson}: keys in insertion order, non-ASCII kept, and no HTML escaping
 * ({@code <}, {@code &}, {@code '} stay as they are), unlike Jinja's own {@code tojson}.
 */
final class PyJson {

    private PyJson() {
    }

    /**
     * @param indent     null for one line; otherwise spaces per level (Python then separates items with ",")
     * @param itemSep    null for Python's default ({@code ", "}, or {@code ","} when indenting)
     * @param keySep     null for Python's default ({@code ": "})
     */
    static String dumps(Object value, Integer indent, String itemSep, String keySep) {
        StringBuilder out = new StringBuilder();
        String items = itemSep != null ? itemSep : indent != null ? "," : ", ";
        write(out, value, indent, items, keySep != null ? keySep : ": ", 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object v, Integer indent, String itemSep, String keySep, int depth) {
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (v instanceof Double || v instanceof Float) {
            out.append(pyFloat(((Number) v).doubleValue()));
        } else if (v instanceof Number n) {
            out.append(n instanceof BigDecimal d ? d.toPlainString() : n.toString());
        } else if (v instanceof Map<?, ?> map) {
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
            boolean first = true;
            while (it.hasNext()) {
                Map.Entry<?, ?> e = it.next();
                if (!first) {
                    out.append(itemSep);
                }
                first = false;
                newline(out, indent, depth + 1);
                string(out, String.valueOf(e.getKey()));
                out.append(keySep);
                write(out, e.getValue(), indent, itemSep, keySep, depth + 1);
            }
            newline(out, indent, depth);
            out.append('}');
        } else if (v instanceof Collection<?> || v instanceof Object[]) {
            Iterable<?> list = v instanceof Object[] arr ? java.util.Arrays.asList(arr) : (Collection<?>) v;
            if (!list.iterator().hasNext()) {
                out.append("[]");
                return;
            }
            out.append('[');
            boolean first = true;
            for (Object item : list) {
                if (!first) {
                    out.append(itemSep);
                }
                first = false;
                newline(out, indent, depth + 1);
                write(out, item, indent, itemSep, keySep, depth + 1);
            }
            newline(out, indent, depth);
            out.append(']');
        } else {
            string(out, v.toString());
        }
    }

    private static void newline(StringBuilder out, Integer indent, int depth) {
        if (indent != null) {
            out.append('\n').append(" ".repeat(indent * depth));
        }
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
    static String pyFloat(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        double abs = Math.abs(d);
        if (abs >= 1e-4 && abs < 1e16) {
            String plain = exact.toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        String digits = exact.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - exact.scale();
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return (d < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+")
                + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }
}

package dev.reftserver.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Rewrites the few Jinja expressions that jinjava reads differently from Python's Jinja, before jinjava parses the
 * template, so that a template means what its authors tested with transformers:
 * <ul>
 *   <li>{@code not} binds looser than comparisons, tests and filters in Jinja ({@code not x is defined} is
 *       {@code not (x is defined)}; {@code not xs|length == 1} is {@code not (xs|length == 1)}), but tighter in
 *       jinjava's EL grammar. Each unary {@code not}'s operand is parenthesized up to the next {@code and},
 *       {@code or}, {@code if}, {@code else}, comma or closing bracket at its nesting level.</li>
 *   <li>The reversing slice {@code xs[::-1]}, which jinjava cannot parse, becomes {@code xs|reverse}.</li>
 * </ul>
 * Text outside {@code {{ }}} and {@code {% %}} and string literals are left as they are.
 */
final class JinjaCompat {

    private JinjaCompat() {
    }

    static String rewrite(String template) {
        StringBuilder out = new StringBuilder(template.length() + 64);
        int i = 0;
        while (i < template.length()) {
            int open = nextOpen(template, i);
            if (open < 0) {
                out.append(template, i, template.length());
                break;
            }
            char kind = template.charAt(open + 1);
            if (kind == '#') {
                out.append(template, i, open);
                i = dropComment(template, open, out);
                continue;
            }
            out.append(template, i, open + 2);
            String close = kind == '{' ? "}}" : "%}";
            int end = closeOf(template, open + 2, close);
            if (end < 0) {
                out.append(template, open + 2, template.length());
                break;
            }
            int start = open + 2;
            int innerStart = start < end && (template.charAt(start) == '-' || template.charAt(start) == '+') ? start + 1
                    : start;
            int innerEnd = end > innerStart && (template.charAt(end - 1) == '-' || template.charAt(end - 1) == '+')
                    ? end - 1 : end;
            String inner = template.substring(innerStart, innerEnd);
            if (kind == '%' && inner.strip().startsWith("raw")) {
                int endRaw = template.indexOf("endraw", end);
                int after = endRaw < 0 ? template.length() : template.indexOf("%}", endRaw);
                after = after < 0 ? template.length() : after + 2;
                out.append(template, start, after);
                i = after;
                continue;
            }
            out.append(template, start, innerStart).append(expression(inner)).append(template, innerEnd, end + 2);
            i = end + 2;
        }
        return out.toString();
    }

    /**
     * Replaces a comment by an empty expression, removing the whitespace Jinja removes around a comment
     * ({@code lstrip_blocks} before it, the newline after it for {@code trim_blocks}, everything for {@code {#-}
     * and {@code -#}}): jinjava strips more after a comment than Jinja does.
     *
     * @return where the template continues
     */
    private static int dropComment(String template, int open, StringBuilder out) {
        int close = template.indexOf("#}", open + 2);
        int end = close < 0 ? template.length() : close + 2;
        if (open + 2 < template.length() && template.charAt(open + 2) == '-') {
            int keep = out.length();
            while (keep > 0 && Character.isWhitespace(out.charAt(keep - 1))) {
                keep--;
            }
            out.setLength(keep);
        } else {
            int lineStart = out.length();
            while (lineStart > 0 && (out.charAt(lineStart - 1) == ' ' || out.charAt(lineStart - 1) == '\t')) {
                lineStart--;
            }
            if (lineStart == 0 || out.charAt(lineStart - 1) == '\n') {
                out.setLength(lineStart);
            }
        }
        if (close > 0 && template.charAt(close - 1) == '-') {
            while (end < template.length() && Character.isWhitespace(template.charAt(end))) {
                end++;
            }
        } else if (template.startsWith("\r\n", end)) {
            end += 2;
        } else if (template.startsWith("\n", end)) {
            end++;
        }
        // An empty expression keeps the comment's boundary: a `-%}` before the comment must not strip the text
        // after it.
        out.append("{{''}}");
        return end;
    }

    private static int nextOpen(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    /** Index of {@code close} after {@code from}, skipping string literals. */
    private static int closeOf(String s, int from, String close) {
        char quote = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (s.startsWith(close, i)) {
                return i;
            }
        }
        return -1;
    }

    private record Token(String text, int start, int end, boolean string) {
    }

    static String expression(String expr) {
        List<Token> tokens = tokenize(expr);
        TreeMap<Integer, StringBuilder> inserts = new TreeMap<>();
        for (int t = 0; t < tokens.size(); t++) {
            Token tok = tokens.get(t);
            if (tok.string || !tok.text.equals("not")) {
                continue;
            }
            boolean binary = (t > 0 && tokens.get(t - 1).text.equals("is"))
                    || (t + 1 < tokens.size() && tokens.get(t + 1).text.equals("in"));
            if (binary || t + 1 >= tokens.size()) {
                continue;
            }
            int depth = 0;
            int last = t;
            for (int u = t + 1; u < tokens.size(); u++) {
                Token x = tokens.get(u);
                if (!x.string) {
                    String s = x.text;
                    if (s.equals("(") || s.equals("[") || s.equals("{")) {
                        depth++;
                    } else if (s.equals(")") || s.equals("]") || s.equals("}")) {
                        if (depth == 0) {
                            break;
                        }
                        depth--;
                    } else if (depth == 0 && (s.equals(",") || s.equals("and") || s.equals("or") || s.equals("if")
                            || s.equals("else"))) {
                        break;
                    }
                }
                last = u;
            }
            if (last == t) {
                continue;
            }
            inserts.computeIfAbsent(tokens.get(t + 1).start, k -> new StringBuilder()).append('(');
            inserts.computeIfAbsent(tokens.get(last).end, k -> new StringBuilder()).insert(0, ')');
        }
        StringBuilder out = new StringBuilder(expr.length() + inserts.size());
        int at = 0;
        for (var e : inserts.entrySet()) {
            out.append(expr, at, e.getKey()).append(e.getValue());
            at = e.getKey();
        }
        out.append(expr.substring(at));
        return reverseSlices(out.toString());
    }

    /** {@code [::-1]} outside string literals becomes {@code |reverse}. */
    private static String reverseSlices(String expr) {
        StringBuilder out = new StringBuilder(expr.length());
        char quote = 0;
        for (int i = 0; i < expr.length(); i++) {
            char c = expr.charAt(i);
            if (quote != 0) {
                out.append(c);
                if (c == '\\' && i + 1 < expr.length()) {
                    out.append(expr.charAt(++i));
                } else if (c == quote) {
                    quote = 0;
                }
                continue;
            }
            if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '[') {
                int close = expr.indexOf(']', i);
                if (close > 0 && expr.substring(i + 1, close).replaceAll("\\s", "").equals("::-1")) {
                    out.append("|reverse");
                    i = close;
                    continue;
                }
            }
            out.append(c);
        }
        return out.toString();
    }

    private static List<Token> tokenize(String s) {
        List<Token> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '\'' || c == '"') {
                int j = i + 1;
                while (j < s.length() && s.charAt(j) != c) {
                    j += s.charAt(j) == '\\' ? 2 : 1;
                }
                j = Math.min(j + 1, s.length());
                out.add(new Token(s.substring(i, j), i, j, true));
                i = j;
            } else if (Character.isLetterOrDigit(c) || c == '_') {
                int j = i;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                    j++;
                }
                out.add(new Token(s.substring(i, j), i, j, false));
                i = j;
            } else {
                out.add(new Token(String.valueOf(c), i, i + 1, false));
                i++;
            }
        }
        return out;
    }
}

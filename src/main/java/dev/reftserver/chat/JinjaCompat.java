package dev.reftserver.chat;


/**
 * Rewrites the Jinja that jinjava reads differently from Python's Jinja, before jinjava parses the template, so that a
 * template means what its authors tested with transformers. This class walks the tags (comments, {@code raw},
 * transformers' {@code {% generation %}} tags, which render their body as it is, and Jinja's {@code lstrip_blocks},
 * done here because jinjava's option strips mid-line too); {@link JinjaBlocks} rewrites what spans tags (loop
 * filters, {@code for}-{@code else}, {@code filter} blocks, {@code loop.previtem}/{@code nextitem}) and
 * {@link JinjaExpressions} what sits in one ({@code not}'s precedence, chained comparisons, keyword argument values,
 * slices, {@code %} formatting, {@code True}/{@code None}, tag delimiters inside strings). What {@code {{ x }}}
 * prints goes through {@code py_print(x)} (booleans, lists and dicts as Python's {@code str()} writes them).
 *
 * <p>The rewrites group with functions ({@link JinjaFunctions}: {@code py_id(x)} where Jinja would write
 * {@code (x)}), never with parentheses: jinjava reads a parenthesized expression holding any comma, even one inside
 * a dict literal, as a tuple. Text outside tags and string literals is left as it is.
 */
final class JinjaCompat {

    private JinjaCompat() {
    }

    static String rewrite(String template) {
        return expressions(JinjaBlocks.loopNeighbours(JinjaBlocks.blocks(template)));
    }

    private static String expressions(String template) {
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
                i = dropTag(template, open, template.indexOf("#}", open + 2), out);
                continue;
            }
            if (kind == '%' && isGenerationTag(template, open)) {
                // transformers' {% generation %} marks the assistant's tokens and renders its body as it is
                out.append(template, i, open);
                i = dropTag(template, open, closeOf(template, open + 2, "%}"), out);
                continue;
            }
            out.append(template, i, open);
            if (kind == '%' && open + 2 < template.length() && "+-".indexOf(template.charAt(open + 2)) < 0) {
                lstrip(out);
            }
            out.append(template, open, open + 2);
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
            // a macro's parameter defaults are no call's keyword arguments
            boolean macro = kind == '%' && inner.strip().startsWith("macro ");
            if (kind == '%') {
                inner = JinjaBlocks.loopFilter(inner);
            }
            String rewritten = JinjaExpressions.expression(inner, !macro);
            if (kind == '{' && !inner.isBlank()) {
                // printed as Python's str() prints it (True, False), where jinjava would print true, false
                rewritten = " py_print(" + rewritten.strip() + ") ";
            }
            // Jinja's '+' beside a block tag's delimiter turns lstrip_blocks ('{%+') or trim_blocks ('+%}') off
            // there; jinjava has no such marker. lstrip is already decided above; a trim is kept off by printing
            // nothing right after the tag, so the line break that follows is no longer the tag's.
            boolean keepBreak = kind == '%' && innerEnd < end && template.charAt(innerEnd) == '+';
            out.append(template, start, innerStart).append(rewritten);
            if (start < innerStart && template.charAt(start) == '+') {
                out.delete(out.length() - rewritten.length() - 1, out.length() - rewritten.length());
            }
            out.append(template, keepBreak ? innerEnd + 1 : innerEnd, end + 2);
            if (keepBreak) {
                out.append("{{ '' }}");
            }
            i = end + 2;
        }
        return out.toString();
    }

    /**
     * Jinja's {@code lstrip_blocks}: the spaces and tabs between a line's start and a block tag are dropped, and
     * only those (jinjava's own option drops the whitespace before a tag in the middle of a line too).
     */
    private static void lstrip(StringBuilder out) {
        int start = out.length();
        while (start > 0 && (out.charAt(start - 1) == ' ' || out.charAt(start - 1) == '\t')) {
            start--;
        }
        if (start < out.length() && (start == 0 || out.charAt(start - 1) == '\n')) {
            out.setLength(start);
        }
    }

    /**
     * Removes a comment, or a tag that renders nothing of its own, with the whitespace Jinja removes around it
     * ({@code lstrip_blocks} before it, the newline after it for {@code trim_blocks}, everything for a {@code -}
     * inside its delimiters): jinjava strips more after a comment than Jinja does.
     *
     * @param close where its closing delimiter starts (negative: the template ends inside it)
     * @return where the template continues
     */
    private static int dropTag(String template, int open, int close, StringBuilder out) {
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
        // An empty expression keeps the tag's boundary: a `-%}` before it must not strip the text after it.
        out.append("{{''}}");
        return end;
    }

    private static boolean isGenerationTag(String template, int open) {
        int close = closeOf(template, open + 2, "%}");
        if (close < 0) {
            return false;
        }
        String inner = template.substring(open + 2, close).replaceAll("^[-+]|[-+]$", "").strip();
        return inner.equals("generation") || inner.equals("endgeneration");
    }

    static int nextOpen(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    /** Index of {@code close} after {@code from}, skipping string literals and what brackets enclose. */
    static int closeOf(String s, int from, String close) {
        char quote = 0;
        int depth = 0;
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
            } else if (depth == 0 && s.startsWith(close, i)) {
                return i;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                // a dict literal's closing brace may sit right before the tag's (Jinja's lexer balances them)
                depth--;
            }
        }
        return -1;
    }
}

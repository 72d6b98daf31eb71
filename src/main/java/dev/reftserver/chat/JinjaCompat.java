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
 *   <li>A slice {@code x[a:b:c]} becomes {@code (x|py_slice(a, b, c))}, Python's slicing (jinjava clamps no
 *       negative start of a string slice and parses no step).</li>
 *   <li>A keyword argument's value is parenthesized ({@code namespace(i=xs|length - 1)}): jinjava binds
 *       {@code name=} tighter than arithmetic.</li>
 *   <li>A loop filter {@code for x in xs if cond} becomes {@code for x in (xs)|py_loop_if('x', 'cond')}.</li>
 *   <li>Python's constants {@code True}, {@code False}, {@code None} become jinjava's {@code true}, {@code false},
 *       {@code none}.</li>
 *   <li>{@code 'format' % args} on a string literal becomes {@code ('format'|py_format(args))}, Python's
 *       printf-style formatting, and {@code 'text' * n} {@code ('text'|py_repeat(n))}.</li>
 * </ul>
 * Whitespace before a block tag is removed here as Jinja's {@code lstrip_blocks} removes it (jinjava's option is off).
 * Text outside {@code {{ }}} and {@code {% %}} and string literals are left as they are.
 */
final class JinjaCompat {

    private JinjaCompat() {
    }

    static String rewrite(String template) {
        return expressions(loopNeighbours(forElse(template)));
    }

    /**
     * {@code loop.previtem} and {@code loop.nextitem}, which jinjava's loops lack: a loop whose body reads them
     * iterates over a list set just before it, and they become that list's neighbouring items (none at the ends).
     */
    static String loopNeighbours(String template) {
        if (!template.contains("previtem") && !template.contains("nextitem")) {
            return template;
        }
        List<Tag> tags = allTags(template);
        java.util.Deque<Integer> loops = new java.util.ArrayDeque<>();
        java.util.Deque<Integer> blocks = new java.util.ArrayDeque<>();
        java.util.Map<Integer, String> replace = new java.util.HashMap<>();
        java.util.Set<Integer> used = new java.util.HashSet<>();
        for (int t = 0; t < tags.size(); t++) {
            Tag tag = tags.get(t);
            String k = tag.keyword;
            if (k.equals("for")) {
                loops.push(t);
            }
            if (BLOCKS.contains(k)) {
                blocks.push(t);
            } else if (k.equals("endfor") && !loops.isEmpty()) {
                loops.pop();
                if (!blocks.isEmpty()) {
                    blocks.pop();
                }
            } else if (k.startsWith("end") && !blocks.isEmpty()) {
                blocks.pop();
            }
            String inner = template.substring(tag.innerStart, tag.innerEnd);
            if (loops.isEmpty() || k.equals("for") && loops.peek() == t && loops.size() == 1
                    || !(inner.contains("loop.previtem") || inner.contains("loop.nextitem"))) {
                continue;
            }
            int loop = k.equals("for") && loops.peek() == t ? loops.stream().skip(1).findFirst().orElse(-1) : loops.peek();
            if (loop < 0) {
                continue;
            }
            String items = "__loop_items_" + loop;
            used.add(loop);
            replace.put(tag.open, template.substring(tag.open, tag.innerStart)
                    + inner.replace("loop.previtem", "(" + items + "[loop.index0 - 1] if not loop.first else none)")
                            .replace("loop.nextitem", "(" + items + "[loop.index] if not loop.last else none)")
                    + template.substring(tag.innerEnd, tag.end));
        }
        for (int loop : used) {
            Tag f = tags.get(loop);
            String inner = loopFilter(template.substring(f.innerStart, f.innerEnd));
            List<Token> tokens = tokenize(inner);
            int in = -1;
            for (int t = 1; t < tokens.size() && in < 0; t++) {
                if (!tokens.get(t).string && tokens.get(t).text.equals("in")) {
                    in = t;
                }
            }
            if (in < 0 || in + 1 >= tokens.size()) {
                continue;
            }
            String items = "__loop_items_" + loop;
            String iterable = inner.substring(tokens.get(in + 1).start).strip();
            String head = inner.substring(0, tokens.get(in + 1).start);
            String rewritten = replace.getOrDefault(f.open, null);
            String forTag = template.substring(f.open, f.innerStart) + head + items
                    + template.substring(f.innerEnd, f.end);
            if (rewritten != null) {
                continue;
            }
            replace.put(f.open, template.substring(f.open, f.innerStart) + " set " + items + " = (" + iterable
                    + ")|list %}" + forTag);
        }
        StringBuilder out = new StringBuilder(template.length() + 256);
        int at = 0;
        for (Tag tag : tags) {
            String r = replace.get(tag.open);
            if (r != null) {
                out.append(template, at, tag.open).append(r);
                at = tag.end;
            }
        }
        return out.append(template.substring(at)).toString();
    }

    /** A tag found by {@link #tags}: where it opens, where its inner text is, where it ends. */
    private record Tag(int open, int innerStart, int innerEnd, int end, String keyword) {
    }

    /** The template's {@code {% %}} tags in order, outside comments and raw blocks. */
    private static List<Tag> tags(String template) {
        return tags(template, false);
    }

    /** The template's {@code {% %}} and {@code {{ }}} tags in order, outside comments and raw blocks. */
    private static List<Tag> allTags(String template) {
        return tags(template, true);
    }

    private static List<Tag> tags(String template, boolean expressions) {
        List<Tag> out = new ArrayList<>();
        int i = 0;
        while (true) {
            int open = nextOpen(template, i);
            if (open < 0) {
                return out;
            }
            char kind = template.charAt(open + 1);
            int end = kind == '#' ? template.indexOf("#}", open + 2) : closeOf(template, open + 2, kind == '{' ? "}}" : "%}");
            if (end < 0) {
                return out;
            }
            i = end + 2;
            if (kind == '#' || kind == '{' && !expressions) {
                continue;
            }
            int innerStart = "-+".indexOf(template.charAt(open + 2)) >= 0 ? open + 3 : open + 2;
            int innerEnd = end > innerStart && "-+".indexOf(template.charAt(end - 1)) >= 0 ? end - 1 : end;
            String inner = template.substring(innerStart, Math.max(innerStart, innerEnd)).strip();
            String keyword = kind == '{' ? "" : inner.split("[\\s(]", 2)[0];
            if (keyword.equals("raw")) {
                int endRaw = template.indexOf("endraw", i);
                int after = endRaw < 0 ? -1 : template.indexOf("%}", endRaw);
                if (after < 0) {
                    return out;
                }
                i = after + 2;
                continue;
            }
            out.add(new Tag(open, innerStart, Math.max(innerStart, innerEnd), end + 2, keyword));
        }
    }

    private static final java.util.Set<String> BLOCKS = java.util.Set.of("for", "if", "macro", "call", "filter",
            "block", "with");

    /**
     * A {@code for} loop's {@code else} (rendered when the loop ran no iteration), which jinjava lacks, becomes a
     * namespace flag set by each iteration and an {@code if} after the loop; the tags keep their whitespace control.
     */
    static String forElse(String template) {
        List<Tag> tags = tags(template);
        java.util.Map<Integer, String> replace = new java.util.HashMap<>();
        java.util.Deque<Integer> open = new java.util.ArrayDeque<>();
        java.util.Map<Integer, Integer> elseOf = new java.util.HashMap<>();
        for (int t = 0; t < tags.size(); t++) {
            String k = tags.get(t).keyword;
            if (BLOCKS.contains(k) || (k.equals("set") && !template.substring(tags.get(t).innerStart,
                    tags.get(t).innerEnd).contains("="))) {
                open.push(t);
            } else if (k.startsWith("end") && !open.isEmpty()) {
                int start = open.pop();
                Integer otherwise = elseOf.get(start);
                if (otherwise != null && tags.get(start).keyword.equals("for")) {
                    String flag = "__for_else_" + start;
                    Tag f = tags.get(start);
                    Tag e = tags.get(otherwise);
                    Tag end = tags.get(t);
                    replace.put(f.open, open(template, f) + " set " + flag + " = namespace(iterated=false) %}"
                            + template.substring(f.open, f.end) + "{% set " + flag + ".iterated = true " + close(template, f));
                    replace.put(e.open, open(template, e) + " endfor %}{% if not " + flag + ".iterated " + close(template, e));
                    replace.put(end.open, open(template, end) + " endif " + close(template, end));
                }
            } else if (k.equals("else") && !open.isEmpty() && tags.get(open.peek()).keyword.equals("for")) {
                elseOf.put(open.peek(), t);
            }
        }
        if (replace.isEmpty()) {
            return template;
        }
        StringBuilder out = new StringBuilder(template.length() + 128);
        int at = 0;
        for (Tag tag : tags) {
            String r = replace.get(tag.open);
            if (r != null) {
                out.append(template, at, tag.open).append(r);
                at = tag.end;
            }
        }
        return out.append(template.substring(at)).toString();
    }

    /** A tag's opening delimiter with its whitespace control. */
    private static String open(String template, Tag tag) {
        return template.substring(tag.open, tag.innerStart);
    }

    /** A tag's closing delimiter with its whitespace control. */
    private static String close(String template, Tag tag) {
        return template.substring(tag.innerEnd, tag.end);
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
                i = dropComment(template, open, out);
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
                inner = loopFilter(inner);
            }
            out.append(template, start, innerStart).append(expression(inner, !macro))
                    .append(template, innerEnd, end + 2);
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
        return expression(expr, true);
    }

    /**
     * {@code for x in xs if cond} becomes {@code for x in (xs)|py_loop_if('x', 'cond')}: jinjava has no loop filter.
     * Returns other tags as they are.
     */
    static String loopFilter(String inner) {
        List<Token> tokens = tokenize(inner);
        if (tokens.isEmpty() || tokens.get(0).string || !tokens.get(0).text.equals("for")) {
            return inner;
        }
        int in = -1;
        int filter = -1;
        int depth = 0;
        for (int t = 1; t < tokens.size(); t++) {
            Token x = tokens.get(t);
            if (x.string) {
                continue;
            }
            if (x.text.equals("(") || x.text.equals("[") || x.text.equals("{")) {
                depth++;
            } else if (x.text.equals(")") || x.text.equals("]") || x.text.equals("}")) {
                depth--;
            } else if (depth == 0 && in < 0 && x.text.equals("in")) {
                in = t;
            } else if (depth == 0 && in > 0 && x.text.equals("if")) {
                filter = t;
                break;
            }
        }
        if (in < 2 || filter < 0 || filter == in + 1 || filter + 1 >= tokens.size()) {
            return inner;
        }
        int end = tokens.size();
        if (tokens.get(end - 1).text.equals("recursive")) {
            end--;
        }
        String targets = inner.substring(tokens.get(1).start, tokens.get(in - 1).end).strip();
        String iterable = inner.substring(tokens.get(in + 1).start, tokens.get(filter - 1).end);
        String condition = expression(inner.substring(tokens.get(filter + 1).start, tokens.get(end - 1).end));
        return inner.substring(0, tokens.get(0).start) + "for " + targets + " in (" + iterable + ")|py_loop_if("
                + literal(targets) + ", " + literal(condition) + ")" + inner.substring(tokens.get(end - 1).end);
    }

    private static String literal(String s) {
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }

    private static String expression(String expr, boolean keywords) {
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
        String rewritten = pythonConstants(insert(expr, inserts));
        return delimitersInStrings(formats(slices(keywords ? keywordValues(rewritten) : rewritten)));
    }

    private static final java.util.regex.Pattern DELIMITER = java.util.regex.Pattern.compile("(?<=[{%#])(?=[{%#])|(?<=[}%#])(?=})");

    /**
     * A string literal holding a tag delimiter ({@code '{{'}, {@code '%}'}...) becomes a concatenation of pieces
     * that hold none: jinjava's lexer ends a tag at the first delimiter, even inside a string, where Jinja's does not.
     */
    private static String delimitersInStrings(String expr) {
        List<Token> tokens = tokenize(expr);
        StringBuilder out = new StringBuilder(expr.length());
        int at = 0;
        for (Token x : tokens) {
            if (!x.string || x.text.length() < 2) {
                continue;
            }
            char quote = x.text.charAt(0);
            String content = x.text.substring(1, x.text.length() - 1);
            String[] pieces = DELIMITER.split(content, -1);
            if (pieces.length == 1) {
                continue;
            }
            out.append(expr, at, x.start).append('(');
            for (int i = 0; i < pieces.length; i++) {
                out.append(i == 0 ? "" : " ~ ").append(quote).append(pieces[i]).append(quote);
            }
            out.append(')');
            at = x.end;
        }
        return out.append(expr.substring(at)).toString();
    }

    /** Python's {@code True}, {@code False} and {@code None}, which Jinja accepts, as jinjava spells them. */
    private static String pythonConstants(String expr) {
        List<Token> tokens = tokenize(expr);
        StringBuilder out = new StringBuilder(expr.length());
        int at = 0;
        for (int t = 0; t < tokens.size(); t++) {
            Token x = tokens.get(t);
            String lower = switch (x.text) {
                case "True" -> "true";
                case "False" -> "false";
                case "None" -> "none";
                default -> null;
            };
            boolean attribute = t > 0 && tokens.get(t - 1).text.equals(".") && tokens.get(t - 1).end == x.start;
            if (lower != null && !x.string && !attribute) {
                out.append(expr, at, x.start).append(lower);
                at = x.end;
            }
        }
        return out.append(expr.substring(at)).toString();
    }

    /** Each {@code name=value} inside a call's parentheses becomes {@code name=(value)}. */
    private static String keywordValues(String expr) {
        List<Token> tokens = tokenize(expr);
        TreeMap<Integer, StringBuilder> inserts = new TreeMap<>();
        for (int t = 1; t + 2 < tokens.size(); t++) {
            Token before = tokens.get(t - 1);
            Token eq = tokens.get(t + 1);
            Token after = tokens.get(t + 2);
            if (before.string || !(before.text.equals("(") || before.text.equals(",")) || !isName(tokens.get(t))
                    || eq.string || !eq.text.equals("=") || (!after.string && after.text.equals("="))
                    || !insideParentheses(tokens, t)) {
                continue;
            }
            int last = argumentEnd(tokens, t + 2);
            if (last < t + 2) {
                continue;
            }
            inserts.computeIfAbsent(after.start, k -> new StringBuilder()).append('(');
            inserts.computeIfAbsent(tokens.get(last).end, k -> new StringBuilder()).insert(0, ')');
        }
        return insert(expr, inserts);
    }

    /** Whether token t sits directly inside a pair of parentheses. */
    private static boolean insideParentheses(List<Token> tokens, int t) {
        int depth = 0;
        for (int u = t - 1; u >= 0; u--) {
            Token x = tokens.get(u);
            if (x.string) {
                continue;
            }
            if (x.text.equals(")") || x.text.equals("]") || x.text.equals("}")) {
                depth++;
            } else if (x.text.equals("(") || x.text.equals("[") || x.text.equals("{")) {
                if (depth == 0) {
                    return x.text.equals("(");
                }
                depth--;
            }
        }
        return false;
    }

    /** The last token of the argument that starts at token {@code from}: up to a comma or closing bracket. */
    private static int argumentEnd(List<Token> tokens, int from) {
        int depth = 0;
        int last = from - 1;
        for (int u = from; u < tokens.size(); u++) {
            Token x = tokens.get(u);
            if (!x.string) {
                if (x.text.equals("(") || x.text.equals("[") || x.text.equals("{")) {
                    depth++;
                } else if (x.text.equals(")") || x.text.equals("]") || x.text.equals("}")) {
                    if (depth == 0) {
                        break;
                    }
                    depth--;
                } else if (depth == 0 && x.text.equals(",")) {
                    break;
                }
            }
            last = u;
        }
        return last;
    }

    /** Rewrites the first slice {@code base[a:b:c]} and the ones after it, one at a time. */
    private static String slices(String expr) {
        for (int guard = 0; guard < 64; guard++) {
            List<Token> tokens = tokenize(expr);
            String next = null;
            for (int t = 1; t < tokens.size() && next == null; t++) {
                Token open = tokens.get(t);
                if (open.string || !open.text.equals("[") || !endsOperand(tokens.get(t - 1))
                        || tokens.get(t - 1).end != open.start) {
                    continue;
                }
                int close = matching(tokens, t);
                List<Integer> colons = topLevel(tokens, t + 1, close, ":");
                if (close < 0 || colons.isEmpty() || colons.size() > 2) {
                    continue;
                }
                int base = operandStart(tokens, t - 1);
                List<String> bounds = new ArrayList<>();
                int from = t + 1;
                for (int c : colons) {
                    bounds.add(between(expr, tokens, from, c));
                    from = c + 1;
                }
                bounds.add(between(expr, tokens, from, close));
                next = expr.substring(0, tokens.get(base).start) + "(" + expr.substring(tokens.get(base).start, open.start)
                        + "|py_slice(" + String.join(", ", bounds) + "))" + expr.substring(tokens.get(close).end);
            }
            if (next == null) {
                return expr;
            }
            expr = next;
        }
        return expr;
    }

    /**
     * {@code 'literal' % operand} becomes {@code ('literal'|py_format(operand))}, and {@code 'literal' * n}
     * {@code ('literal'|py_repeat(n))}, one at a time.
     */
    private static String formats(String expr) {
        for (int guard = 0; guard < 64; guard++) {
            List<Token> tokens = tokenize(expr);
            String next = null;
            for (int t = 0; t + 2 < tokens.size() && next == null; t++) {
                Token literal = tokens.get(t);
                Token op = tokens.get(t + 1);
                if (!literal.string || op.string || !(op.text.equals("%") || op.text.equals("*"))
                        || (op.text.equals("*") && t + 2 < tokens.size() && tokens.get(t + 2).text.equals("*"))) {
                    continue;
                }
                String filter = op.text.equals("%") ? "py_format" : "py_repeat";
                int last = operandEnd(tokens, t + 2);
                Token first = tokens.get(t + 2);
                String args = expr.substring(first.start, tokens.get(last).end);
                if (filter.equals("py_format") && !first.string && first.text.equals("(")
                        && matching(tokens, t + 2) == last) {
                    // a tuple's items are the arguments; a trailing comma (a one-item tuple) is dropped
                    args = expr.substring(first.end, tokens.get(last).start).strip();
                    if (args.endsWith(",")) {
                        args = args.substring(0, args.length() - 1);
                    }
                }
                next = expr.substring(0, literal.start) + "(" + literal.text + "|" + filter + "(" + args + "))"
                        + expr.substring(tokens.get(last).end);
            }
            if (next == null) {
                return expr;
            }
            expr = next;
        }
        return expr;
    }

    private static String between(String expr, List<Token> tokens, int from, int to) {
        String text = from >= to ? "" : expr.substring(tokens.get(from).start, tokens.get(to - 1).end).strip();
        return text.isEmpty() ? "none" : text;
    }

    /** Whether a token can end an operand that a subscript follows: a name, a literal, a closing bracket. */
    private static boolean endsOperand(Token t) {
        return t.string || isName(t) || t.text.equals(")") || t.text.equals("]");
    }

    private static boolean isName(Token t) {
        return !t.string && (Character.isLetterOrDigit(t.text.charAt(0)) || t.text.charAt(0) == '_')
                && !KEYWORDS.contains(t.text);
    }

    private static final java.util.Set<String> KEYWORDS = java.util.Set.of("and", "or", "not", "in", "is", "if",
            "else");

    /** The first token of the operand (a primary and its attributes, subscripts and calls) ending at token t. */
    private static int operandStart(List<Token> tokens, int t) {
        int start = t;
        while (true) {
            Token x = tokens.get(start);
            if (!x.string && (x.text.equals(")") || x.text.equals("]"))) {
                int open = opening(tokens, start);
                if (open < 0) {
                    return start;
                }
                start = open;
                if (start > 0 && endsOperand(tokens.get(start - 1))
                        && tokens.get(start - 1).end == tokens.get(start).start) {
                    start--;
                    continue;
                }
                return start;
            }
            if (start >= 2 && !tokens.get(start - 1).string && tokens.get(start - 1).text.equals(".")
                    && endsOperand(tokens.get(start - 2))) {
                start -= 2;
                continue;
            }
            return start;
        }
    }

    /** The last token of the operand (a primary and its attributes, subscripts and calls) starting at token t. */
    private static int operandEnd(List<Token> tokens, int t) {
        int end = t;
        Token x = tokens.get(t);
        if (!x.string && (x.text.equals("(") || x.text.equals("["))) {
            end = matching(tokens, t);
            if (end < 0) {
                return tokens.size() - 1;
            }
        }
        while (end + 1 < tokens.size()) {
            Token n = tokens.get(end + 1);
            if (n.string) {
                return end;
            }
            if ((n.text.equals("(") || n.text.equals("[")) && n.start == tokens.get(end).end) {
                int close = matching(tokens, end + 1);
                if (close < 0) {
                    return end;
                }
                end = close;
            } else if (n.text.equals(".") && end + 2 < tokens.size() && isName(tokens.get(end + 2))) {
                end += 2;
            } else {
                return end;
            }
        }
        return end;
    }

    private static int matching(List<Token> tokens, int open) {
        int depth = 0;
        for (int u = open; u < tokens.size(); u++) {
            Token x = tokens.get(u);
            if (x.string) {
                continue;
            }
            if (x.text.equals("(") || x.text.equals("[") || x.text.equals("{")) {
                depth++;
            } else if (x.text.equals(")") || x.text.equals("]") || x.text.equals("}")) {
                if (--depth == 0) {
                    return u;
                }
            }
        }
        return -1;
    }

    private static int opening(List<Token> tokens, int close) {
        int depth = 0;
        for (int u = close; u >= 0; u--) {
            Token x = tokens.get(u);
            if (x.string) {
                continue;
            }
            if (x.text.equals(")") || x.text.equals("]") || x.text.equals("}")) {
                depth++;
            } else if (x.text.equals("(") || x.text.equals("[") || x.text.equals("{")) {
                if (--depth == 0) {
                    return u;
                }
            }
        }
        return -1;
    }

    /** Indexes of the tokens {@code text} in [from, to) outside nested brackets. */
    private static List<Integer> topLevel(List<Token> tokens, int from, int to, String text) {
        List<Integer> at = new ArrayList<>();
        int depth = 0;
        for (int u = from; u < to; u++) {
            Token x = tokens.get(u);
            if (x.string) {
                continue;
            }
            if (x.text.equals("(") || x.text.equals("[") || x.text.equals("{")) {
                depth++;
            } else if (x.text.equals(")") || x.text.equals("]") || x.text.equals("}")) {
                depth--;
            } else if (depth == 0 && x.text.equals(text)) {
                at.add(u);
            }
        }
        return at;
    }

    private static String insert(String expr, TreeMap<Integer, StringBuilder> inserts) {
        StringBuilder out = new StringBuilder(expr.length() + inserts.size());
        int at = 0;
        for (var e : inserts.entrySet()) {
            out.append(expr, at, e.getKey()).append(e.getValue());
            at = e.getKey();
        }
        return out.append(expr.substring(at)).toString();
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

package dev.reftserver.chat;

import static dev.reftserver.chat.JinjaTokens.between;
import static dev.reftserver.chat.JinjaTokens.endsOperand;
import static dev.reftserver.chat.JinjaTokens.insert;
import static dev.reftserver.chat.JinjaTokens.isName;
import static dev.reftserver.chat.JinjaTokens.matching;
import static dev.reftserver.chat.JinjaTokens.operandEnd;
import static dev.reftserver.chat.JinjaTokens.operandStart;
import static dev.reftserver.chat.JinjaTokens.tokenize;
import static dev.reftserver.chat.JinjaTokens.topLevel;

import dev.reftserver.chat.JinjaTokens.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The {@link JinjaCompat} rewrites inside one tag's expression: {@code not}'s precedence, Python's constants,
 * chained comparisons, keyword argument values, slices, {@code %} formatting and string repetition, and tag
 * delimiters inside string literals.
 */
final class JinjaExpressions {

    private JinjaExpressions() {
    }

    /**
     * One tag's expression, rewritten.
     *
     * @param keywords whether keyword arguments of calls are rewritten (not in a macro's signature, whose defaults
     *                 are no call's arguments)
     */
    static String expression(String expr, boolean keywords) {
        String rewritten = comparisonChains(pythonConstants(notOperands(groups(plusBeforeDigits(expr)))));
        return closingBraces(delimitersInStrings(formats(slices(keywords ? keywordValues(rewritten) : rewritten))));
    }

    /**
     * Each grouping pair of parentheses, {@code (x)} (not a call's, not a tuple's), as {@code py_id(x)}: jinjava reads
     * a parenthesized expression holding any comma, even one inside a dict literal, as a tuple.
     */
    static String groups(String expr) {
        List<Token> tokens = tokenize(expr);
        TreeMap<Integer, StringBuilder> inserts = new TreeMap<>();
        for (int t = 0; t < tokens.size(); t++) {
            boolean call = t > 0 && endsOperand(tokens.get(t - 1));
            if (tokens.get(t).is("(") && !call && matching(tokens, t) > t && topLevel(tokens, t, ",").isEmpty()) {
                inserts.computeIfAbsent(tokens.get(t).start, k -> new StringBuilder()).append(" py_id");
            }
        }
        return insert(expr, inserts);
    }

    /** Two closing braces of nested literals, {@code }}}, spaced apart: jinjava would end the tag there. */
    static String closingBraces(String expr) {
        List<Token> tokens = tokenize(expr);
        TreeMap<Integer, StringBuilder> inserts = new TreeMap<>();
        for (int t = 1; t < tokens.size(); t++) {
            if (tokens.get(t).is("}") && tokens.get(t - 1).is("}") && tokens.get(t - 1).end == tokens.get(t).start) {
                inserts.computeIfAbsent(tokens.get(t).start, k -> new StringBuilder()).append(' ');
            }
        }
        return insert(expr, inserts);
    }

    /** What separates a comparison from its neighbours at its depth (as does a lone {@code =}). */
    private static final Set<String> COMPARISON_ENDS = Set.of(",", ":", "and", "or", "not", "if", "else", "in",
            "for", "set");

    /**
     * Python's chained comparisons, which jinjava cannot parse: {@code a < b <= c} becomes
     * {@code py_id(a < b and b <= c)}, one chain at a time.
     */
    static String comparisonChains(String expr) {
        for (int guard = 0; guard < 64; guard++) {
            List<Token> tokens = tokenize(expr);
            String next = null;
            for (int first = 0; first < tokens.size() && next == null; first++) {
                if (first > 0 && !tokens.get(first - 1).opens() && !separates(tokens, first - 1)) {
                    continue;
                }
                int level = tokens.get(first).level();
                List<int[]> ops = new ArrayList<>();
                int last = first - 1;
                for (int u = first; u < tokens.size(); u++) {
                    Token x = tokens.get(u);
                    if (x.closes() && x.depth < level || x.depth == level && separates(tokens, u)) {
                        break;
                    }
                    int width = x.depth == level ? comparison(tokens, u) : 0;
                    if (width > 0) {
                        ops.add(new int[] {u, u + width - 1});
                        u += width - 1;
                    }
                    last = u;
                }
                if (ops.size() < 2 || ops.get(0)[0] == first || ops.get(ops.size() - 1)[1] >= last) {
                    continue;
                }
                StringBuilder chain = new StringBuilder("py_id(");
                int from = first;
                for (int i = 0; i < ops.size(); i++) {
                    int[] op = ops.get(i);
                    int to = i + 1 < ops.size() ? ops.get(i + 1)[0] - 1 : last;
                    chain.append(i == 0 ? "" : " and ").append(text(expr, tokens, from, op[0] - 1)).append(' ')
                            .append(text(expr, tokens, op[0], op[1])).append(' ')
                            .append(text(expr, tokens, op[1] + 1, to));
                    from = op[1] + 1;
                }
                next = expr.substring(0, tokens.get(first).start) + chain.append(')')
                        + expr.substring(tokens.get(last).end);
            }
            if (next == null) {
                return expr;
            }
            expr = next;
        }
        return expr;
    }

    /** Whether token u separates comparisons: a keyword or comma of {@link #COMPARISON_ENDS}, or a lone {@code =}. */
    private static boolean separates(List<Token> tokens, int u) {
        Token x = tokens.get(u);
        if (x.string) {
            return false;
        }
        if (COMPARISON_ENDS.contains(x.text)) {
            return true;
        }
        boolean afterOperator = u > 0 && tokens.get(u - 1).end == x.start && !tokens.get(u - 1).string
                && "<>=!".contains(tokens.get(u - 1).text);
        return x.is("=") && !afterOperator && comparison(tokens, u) == 0;
    }

    /** The tokens of a comparison operator starting at token u ({@code < > <= >= == !=}), or 0. */
    private static int comparison(List<Token> tokens, int u) {
        Token x = tokens.get(u);
        boolean withEquals = u + 1 < tokens.size() && tokens.get(u + 1).is("=") && tokens.get(u + 1).start == x.end;
        if (x.is("<") || x.is(">")) {
            return withEquals ? 2 : 1;
        }
        return (x.is("=") || x.is("!")) && withEquals ? 2 : 0;
    }

    private static String text(String expr, List<Token> tokens, int from, int to) {
        return expr.substring(tokens.get(from).start, tokens.get(to).end);
    }

    /** What ends a unary {@code not}'s operand at its depth. */
    private static final Set<String> NOT_OPERAND_ENDS = Set.of(",", "and", "or", "if", "else");

    /**
     * Each unary {@code not}'s operand parenthesized up to the next {@code and}, {@code or}, {@code if},
     * {@code else}, comma or closing bracket at its depth: {@code not} binds looser than comparisons, tests and
     * filters in Jinja, tighter in jinjava's grammar.
     */
    static String notOperands(String expr) {
        List<Token> tokens = tokenize(expr);
        TreeMap<Integer, StringBuilder> inserts = new TreeMap<>();
        for (int t = 0; t + 1 < tokens.size(); t++) {
            // "is not" and "not in" are binary operators
            if (!tokens.get(t).is("not") || t > 0 && tokens.get(t - 1).is("is") || tokens.get(t + 1).is("in")) {
                continue;
            }
            int last = JinjaTokens.runEnd(tokens, t + 1, NOT_OPERAND_ENDS);
            if (last == t) {
                continue;
            }
            // "not(x)" is written without a space too
            inserts.computeIfAbsent(tokens.get(t + 1).start, k -> new StringBuilder()).append(" py_id(");
            inserts.computeIfAbsent(tokens.get(last).end, k -> new StringBuilder()).insert(0, ')');
        }
        return insert(expr, inserts);
    }

    /** Between the two characters of a tag delimiter: {@code {{ {% {# }} %} #}}. */
    private static final Pattern DELIMITER = Pattern.compile("(?<=[{%#])(?=[{%#])|(?<=[}%#])(?=})");

    /**
     * A string literal holding a tag delimiter ({@code '{{'}, {@code '%}'}...) becomes a concatenation of pieces
     * that hold none: jinjava's lexer ends a tag at the first delimiter, even inside a string, where Jinja's does not.
     */
    static String delimitersInStrings(String expr) {
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

    /**
     * A space after each {@code +} that a digit follows ({@code i+1} as {@code i+ 1}): jinjava's scanner reads
     * {@code +1} as a signed number literal, so {@code i+1}, {@code loop.index0+1} and {@code x[:i+1]} fail to
     * parse at all.
     */
    static String plusBeforeDigits(String expr) {
        List<Token> tokens = tokenize(expr);
        StringBuilder out = new StringBuilder(expr.length() + 4);
        int at = 0;
        for (int t = 0; t + 1 < tokens.size(); t++) {
            Token x = tokens.get(t);
            Token next = tokens.get(t + 1);
            if (!x.string && x.text.equals("+") && next.start == x.end && !next.string
                    && Character.isDigit(next.text.charAt(0))) {
                out.append(expr, at, x.end).append(' ');
                at = x.end;
            }
        }
        return out.append(expr.substring(at)).toString();
    }

    /** Python's {@code True}, {@code False} and {@code None}, which Jinja accepts, as jinjava spells them. */
    static String pythonConstants(String expr) {
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
    static String keywordValues(String expr) {
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
            int last = JinjaTokens.runEnd(tokens, t + 2, Set.of(","));
            if (last < t + 2) {
                continue;
            }
            inserts.computeIfAbsent(after.start, k -> new StringBuilder()).append("py_id(");
            inserts.computeIfAbsent(tokens.get(last).end, k -> new StringBuilder()).insert(0, ')');
        }
        return insert(expr, inserts);
    }

    /** Whether token t sits directly inside a pair of parentheses. */
    static boolean insideParentheses(List<Token> tokens, int t) {
        int open = JinjaTokens.enclosing(tokens, t);
        return open >= 0 && tokens.get(open).is("(");
    }

    /** Each slice {@code base[a:b:c]} as {@code py_slice(base, a, b, c)}, one at a time. */
    static String slices(String expr) {
        for (int guard = 0; guard < 64; guard++) {
            List<Token> tokens = tokenize(expr);
            String next = null;
            for (int t = 1; t < tokens.size() && next == null; t++) {
                Token open = tokens.get(t);
                if (!open.is("[") || !endsOperand(tokens.get(t - 1))
                        || tokens.get(t - 1).end != open.start) {
                    continue;
                }
                int close = matching(tokens, t);
                List<Integer> colons = close < 0 ? List.of() : topLevel(tokens, t, ":");
                if (colons.isEmpty() || colons.size() > 2) {
                    continue;
                }
                int base = tokens.get(operandStart(tokens, t - 1)).start;
                List<String> bounds = new ArrayList<>();
                int from = t + 1;
                for (int c : colons) {
                    bounds.add(between(expr, tokens, from, c));
                    from = c + 1;
                }
                bounds.add(between(expr, tokens, from, close));
                while (bounds.size() < 3) {
                    bounds.add("none");
                }
                next = expr.substring(0, base) + "py_slice(" + expr.substring(base, open.start) + ", "
                        + String.join(", ", bounds) + ")" + expr.substring(tokens.get(close).end);
            }
            if (next == null) {
                return expr;
            }
            expr = next;
        }
        return expr;
    }

    /**
     * {@code 'literal' % operand} becomes {@code py_format('literal', operand)}, and {@code 'literal' * n}
     * {@code py_repeat('literal', n)}, one at a time.
     */
    static String formats(String expr) {
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
                next = expr.substring(0, literal.start) + filter + "(" + literal.text
                        + (args.isBlank() ? "" : ", " + args) + ")" + expr.substring(tokens.get(last).end);
            }
            if (next == null) {
                return expr;
            }
            expr = next;
        }
        return expr;
    }
}

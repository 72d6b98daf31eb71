package dev.reftserver.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/** The tokens of a Jinja expression, as the {@link JinjaCompat} rewrites see them, and the walks over them. */
final class JinjaTokens {

    private JinjaTokens() {
    }

    /** A name, a number, one punctuation character, or a whole string literal ({@code string}), at [start, end). */
    static final class Token {
        final String text;
        final int start;
        final int end;
        final boolean string;

        Token(String text, int start, int end, boolean string) {
            this.text = text;
            this.start = start;
            this.end = end;
            this.string = string;
        }
    }

    static String between(String expr, List<Token> tokens, int from, int to) {
        String text = from >= to ? "" : expr.substring(tokens.get(from).start, tokens.get(to - 1).end).strip();
        return text.isEmpty() ? "none" : text;
    }

    /** Whether a token can end an operand that a subscript follows: a name, a literal, a closing bracket. */
    static boolean endsOperand(Token t) {
        return t.string || isName(t) || t.text.equals(")") || t.text.equals("]");
    }

    static boolean isName(Token t) {
        return !t.string && (Character.isLetterOrDigit(t.text.charAt(0)) || t.text.charAt(0) == '_')
                && !KEYWORDS.contains(t.text);
    }

    static final Set<String> KEYWORDS = Set.of("and", "or", "not", "in", "is", "if",
            "else");

    /** The first token of the operand (a primary and its attributes, subscripts and calls) ending at token t. */
    static int operandStart(List<Token> tokens, int t) {
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
    static int operandEnd(List<Token> tokens, int t) {
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

    static int matching(List<Token> tokens, int open) {
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

    static int opening(List<Token> tokens, int close) {
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
    static List<Integer> topLevel(List<Token> tokens, int from, int to, String text) {
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

    static String insert(String expr, TreeMap<Integer, StringBuilder> inserts) {
        StringBuilder out = new StringBuilder(expr.length() + inserts.size());
        int at = 0;
        for (var e : inserts.entrySet()) {
            out.append(expr, at, e.getKey()).append(e.getValue());
            at = e.getKey();
        }
        return out.append(expr.substring(at)).toString();
    }

    static List<Token> tokenize(String s) {
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

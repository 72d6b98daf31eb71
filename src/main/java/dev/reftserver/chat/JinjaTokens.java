package dev.reftserver.chat;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/** The tokens of a Jinja expression, as the {@link JinjaCompat} rewrites see them, and the walks over them. */
final class JinjaTokens {

    private JinjaTokens() {
    }

    /**
     * A name, a number, one punctuation character, or a whole string literal ({@code string}), at [start, end);
     * {@code depth}: the brackets around it (a bracket and the one that closes it have the depth outside them).
     */
    static final class Token {
        final String text;
        final int start;
        final int end;
        final boolean string;
        final int depth;

        Token(String text, int start, int end, boolean string, int depth) {
            this.text = text;
            this.start = start;
            this.end = end;
            this.string = string;
            this.depth = depth;
        }

        /** This token is {@code s}, outside a string literal. */
        boolean is(String s) {
            return !string && text.equals(s);
        }

        boolean opens() {
            return !string && text.length() == 1 && "([{".indexOf(text.charAt(0)) >= 0;
        }

        boolean closes() {
            return !string && text.length() == 1 && ")]}".indexOf(text.charAt(0)) >= 0;
        }

        /** The depth of what sits beside this token: inside the brackets that a closing bracket ends. */
        int level() {
            return closes() ? depth + 1 : depth;
        }
    }

    /**
     * The last token of the run starting at token {@code from} that stays at its depth: the run ends before a
     * bracket closing one around it, or before one of {@code stops} at its depth. {@code from - 1} if it ends at once.
     */
    static int runEnd(List<Token> tokens, int from, Set<String> stops) {
        int level = tokens.get(from).level();
        int last = from - 1;
        for (int u = from; u < tokens.size(); u++) {
            Token x = tokens.get(u);
            if (x.closes() && x.depth < level || x.depth == level && !x.string && stops.contains(x.text)) {
                break;
            }
            last = u;
        }
        return last;
    }

    static String between(String expr, List<Token> tokens, int from, int to) {
        String text = from >= to ? "" : expr.substring(tokens.get(from).start, tokens.get(to - 1).end).strip();
        return text.isEmpty() ? "none" : text;
    }

    /** Whether a token can end an operand that a subscript follows: a name, a literal, a closing bracket. */
    static boolean endsOperand(Token t) {
        return t.string || isName(t) || t.is(")") || t.is("]");
    }

    static boolean isName(Token t) {
        return !t.string && (Character.isLetterOrDigit(t.text.charAt(0)) || t.text.charAt(0) == '_')
                && !KEYWORDS.contains(t.text);
    }

    static final Set<String> KEYWORDS = Set.of("and", "or", "not", "in", "is", "if", "else");

    /** The first token of the operand (a primary and its attributes, subscripts and calls) ending at token t. */
    static int operandStart(List<Token> tokens, int t) {
        int start = t;
        while (true) {
            Token x = tokens.get(start);
            if (x.is(")") || x.is("]")) {
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
            if (start >= 2 && tokens.get(start - 1).is(".")
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
        if (x.is("(") || x.is("[")) {
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

    /** The bracket that closes the one at {@code open}, or -1. */
    static int matching(List<Token> tokens, int open) {
        for (int u = open + 1; u < tokens.size(); u++) {
            if (tokens.get(u).closes() && tokens.get(u).depth == tokens.get(open).depth) {
                return u;
            }
        }
        return -1;
    }

    /** The bracket that the one at {@code close} closes, or -1. */
    static int opening(List<Token> tokens, int close) {
        for (int u = close - 1; u >= 0; u--) {
            if (tokens.get(u).opens() && tokens.get(u).depth == tokens.get(close).depth) {
                return u;
            }
        }
        return -1;
    }

    /** Indexes of the tokens {@code text} directly inside the brackets at {@code open} (not nested deeper). */
    static List<Integer> topLevel(List<Token> tokens, int open, String text) {
        List<Integer> at = new ArrayList<>();
        int close = matching(tokens, open);
        for (int u = open + 1; u < close; u++) {
            if (tokens.get(u).depth == tokens.get(open).depth + 1 && tokens.get(u).is(text)) {
                at.add(u);
            }
        }
        return at;
    }

    /** The innermost bracket around token {@code t}, or -1. */
    static int enclosing(List<Token> tokens, int t) {
        for (int u = t - 1; u >= 0; u--) {
            if (tokens.get(u).opens() && tokens.get(u).depth == tokens.get(t).level() - 1) {
                return u;
            }
        }
        return -1;
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
        int depth = 0;
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
                out.add(new Token(s.substring(i, j), i, j, true, depth));
                i = j;
            } else if (Character.isLetterOrDigit(c) || c == '_') {
                int j = i;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                    j++;
                }
                out.add(new Token(s.substring(i, j), i, j, false, depth));
                i = j;
            } else {
                if (")]}".indexOf(c) >= 0) {
                    depth--;
                }
                out.add(new Token(String.valueOf(c), i, i + 1, false, depth));
                if ("([{".indexOf(c) >= 0) {
                    depth++;
                }
                i++;
            }
        }
        return out;
    }
}

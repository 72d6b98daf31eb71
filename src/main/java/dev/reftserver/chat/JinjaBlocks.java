package dev.reftserver.chat;

import static dev.reftserver.chat.JinjaTokens.tokenize;

import dev.reftserver.chat.JinjaTokens.Token;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@link JinjaCompat} rewrites that span tags: a {@code for} loop's filter ({@code for x in xs if cond}), its
 * {@code else}, and {@code loop.previtem} / {@code loop.nextitem}, none of which jinjava has.
 */
final class JinjaBlocks {

    private JinjaBlocks() {
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
        Deque<Integer> loops = new ArrayDeque<>();
        Deque<Integer> blocks = new ArrayDeque<>();
        Map<Integer, String> replace = new HashMap<>();
        Set<Integer> used = new HashSet<>();
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
    record Tag(int open, int innerStart, int innerEnd, int end, String keyword) {
    }

    /** The template's {@code {% %}} tags in order, outside comments and raw blocks. */
    static List<Tag> tags(String template) {
        return tags(template, false);
    }

    /** The template's {@code {% %}} and {@code {{ }}} tags in order, outside comments and raw blocks. */
    static List<Tag> allTags(String template) {
        return tags(template, true);
    }

    static List<Tag> tags(String template, boolean expressions) {
        List<Tag> out = new ArrayList<>();
        int i = 0;
        while (true) {
            int open = JinjaCompat.nextOpen(template, i);
            if (open < 0) {
                return out;
            }
            char kind = template.charAt(open + 1);
            int end = kind == '#' ? template.indexOf("#}", open + 2) : JinjaCompat.closeOf(template, open + 2,
                    kind == '{' ? "}}" : "%}");
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
            if (keyword.equals("generation") || keyword.equals("endgeneration")) {
                continue; // removed by JinjaCompat; no block of jinjava's
            }
            out.add(new Tag(open, innerStart, Math.max(innerStart, innerEnd), end + 2, keyword));
        }
    }

    static final Set<String> BLOCKS = Set.of("for", "if", "macro", "call", "filter",
            "block", "with");

    /**
     * A {@code for} loop's {@code else} (rendered when the loop ran no iteration), which jinjava lacks, becomes a
     * namespace flag set by each iteration and an {@code if} after the loop; the tags keep their whitespace control.
     */
    static String forElse(String template) {
        List<Tag> tags = tags(template);
        Map<Integer, String> replace = new HashMap<>();
        Deque<Integer> open = new ArrayDeque<>();
        Map<Integer, Integer> elseOf = new HashMap<>();
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
    static String open(String template, Tag tag) {
        return template.substring(tag.open, tag.innerStart);
    }

    /** A tag's closing delimiter with its whitespace control. */
    static String close(String template, Tag tag) {
        return template.substring(tag.innerEnd, tag.end);
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
        String condition = JinjaExpressions.expression(inner.substring(tokens.get(filter + 1).start, tokens.get(end - 1).end));
        return inner.substring(0, tokens.get(0).start) + "for " + targets + " in (" + iterable + ")|py_loop_if("
                + literal(targets) + ", " + literal(condition) + ")" + inner.substring(tokens.get(end - 1).end);
    }

    static String literal(String s) {
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }
}

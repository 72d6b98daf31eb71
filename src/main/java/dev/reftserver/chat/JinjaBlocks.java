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
 * {@code else}, {@code loop.previtem} / {@code loop.nextitem}, and {@code filter} blocks, none of which jinjava
 * has.
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
        // each tag's inner text, rewritten where it reads its loop's neighbours
        Map<Integer, String> inner = new HashMap<>();
        Set<Integer> captured = new HashSet<>();
        for (int t = 0; t < tags.size(); t++) {
            Tag tag = tags.get(t);
            // a for tag's own expressions belong to the loop around it
            Integer loop = loops.peek();
            if (tag.keyword.equals("for")) {
                loops.push(t);
            } else if (tag.keyword.equals("endfor") && !loops.isEmpty()) {
                loops.pop();
            }
            String text = template.substring(tag.innerStart, tag.innerEnd);
            if (loop != null && (text.contains("loop.previtem") || text.contains("loop.nextitem"))) {
                String items = ITEMS + loop;
                inner.put(t, text
                        .replace("loop.previtem", "(" + items + "[loop.index0 - 1] if not loop.first else none)")
                        .replace("loop.nextitem", "(" + items + "[loop.index] if not loop.last else none)"));
                captured.add(loop);
            }
        }
        StringBuilder out = new StringBuilder(template.length() + 256);
        int at = 0;
        for (int t = 0; t < tags.size(); t++) {
            Tag tag = tags.get(t);
            String text = inner.getOrDefault(t, template.substring(tag.innerStart, tag.innerEnd));
            if (captured.contains(t)) {
                text = capture(loopFilter(text), ITEMS + t, template.substring(tag.open, tag.innerStart), tag);
            } else if (!inner.containsKey(t)) {
                continue;
            }
            out.append(template, at, tag.innerStart).append(text).append(template, tag.innerEnd, tag.end);
            at = tag.end;
        }
        return out.append(template.substring(at)).toString();
    }

    private static final String ITEMS = "__loop_items_";

    /**
     * A for tag's inner text {@code for x in xs} as {@code set items = py_list(xs) %}OPEN for x in items}: the list
     * set just before the loop, which then iterates over it. {@code open} is the tag's opening delimiter.
     */
    private static String capture(String forInner, String items, String open, Tag tag) {
        List<Token> tokens = tokenize(forInner);
        for (int t = 1; t + 1 < tokens.size(); t++) {
            if (!tokens.get(t).string && tokens.get(t).text.equals("in")) {
                int from = tokens.get(t + 1).start;
                return " set " + items + " = py_list(" + forInner.substring(from).strip() + ") %}" + open
                        + forInner.substring(0, from) + items;
            }
        }
        return forInner;
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
     * The blocks jinjava lacks, as tags it has, each keeping its whitespace control: a {@code for} loop's
     * {@code else} (rendered when the loop ran no iteration) becomes a namespace flag set by each iteration and an
     * {@code if} after the loop; a {@code filter} block becomes a {@code set} block whose text is printed through
     * the filters.
     */
    static String blocks(String template) {
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
                            + template.substring(f.open, f.end) + "{% set " + flag + ".iterated = true "
                            + close(template, f));
                    replace.put(e.open, open(template, e) + " endfor %}{% if not " + flag + ".iterated "
                            + close(template, e));
                    replace.put(end.open, open(template, end) + " endif " + close(template, end));
                } else if (tags.get(start).keyword.equals("filter")) {
                    Tag f = tags.get(start);
                    Tag end = tags.get(t);
                    String body = "__filter_" + start;
                    String filters = template.substring(f.innerStart, f.innerEnd).strip().substring("filter".length());
                    replace.put(f.open, open(template, f) + " set " + body + " " + close(template, f));
                    replace.put(end.open, open(template, end) + " endset %}{{ " + body + "|" + filters.strip()
                            + " }}{% set " + body + " = none " + close(template, end));
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
     * {@code for x in xs if cond} becomes {@code for x in py_loop_if(xs, 'x', 'cond')}: jinjava has no loop filter;
     * {@code for x in xs} becomes {@code for x in py_iter(xs)}, which iterates a dict's keys and a string's
     * characters as Python does (jinjava iterates a map's values). Returns other tags as they are.
     */
    static String loopFilter(String inner) {
        List<Token> tokens = tokenize(inner);
        if (tokens.isEmpty() || !tokens.get(0).is("for")) {
            return inner;
        }
        int in = -1;
        int filter = -1;
        for (int t = 1; t < tokens.size() && filter < 0; t++) {
            Token x = tokens.get(t);
            if (x.depth == 0 && in < 0 && x.is("in")) {
                in = t;
            } else if (x.depth == 0 && in > 0 && x.is("if")) {
                filter = t;
            }
        }
        int end = tokens.size();
        boolean recursive = tokens.get(end - 1).text.equals("recursive");
        if (recursive) {
            end--;
        }
        if (in >= 2 && filter < 0 && in + 1 < end && !recursive) {
            return inner.substring(0, tokens.get(in + 1).start) + "py_iter(" + inner.substring(tokens.get(in + 1).start,
                    tokens.get(end - 1).end) + ")" + inner.substring(tokens.get(end - 1).end);
        }
        if (in < 2 || filter < 0 || filter == in + 1 || filter + 1 >= tokens.size()) {
            return inner;
        }
        String targets = inner.substring(tokens.get(1).start, tokens.get(in - 1).end).strip();
        String iterable = inner.substring(tokens.get(in + 1).start, tokens.get(filter - 1).end);
        String condition = JinjaExpressions.expression(
                inner.substring(tokens.get(filter + 1).start, tokens.get(end - 1).end), true);
        return inner.substring(0, tokens.get(0).start) + "for " + targets + " in py_loop_if(" + iterable + ", "
                + literal(targets) + ", " + literal(condition) + ")" + inner.substring(tokens.get(end - 1).end);
    }

    static String literal(String s) {
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }
}

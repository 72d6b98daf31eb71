package dev.reftserver.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Python and Jinja features that real chat templates use and jinjava reads otherwise, each against what Jinja 3.1.6
 * renders (transformers 5.18's chat-template renderer, {@code render_jinja_template}, on the same template and
 * messages; the expected strings were printed by it).
 */
class ChatTemplatePythonTest {

    private static final List<Map<String, Object>> MESSAGES = List.of(
            message("system", "Be brief."),
            message("user", "Hi there"),
            message("assistant", "Hello!"),
            message("tool", "21C"),
            message("user", "Thanks"));

    /** A message whose keys keep their order, as a JSON object's do. */
    private static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    private static String render(String template, List<?> messages) {
        return new ChatTemplate(template, ChatTemplateGoldenTest.GOLDEN_CLOCK).render(messages, new HashMap<>());
    }

    @Test
    void slicesFollowPythonClampingStepsAndNegativeBounds() {
        assertEquals("abc|ab|fdb||[2, 4]|[1, 2, 3]|4|user|ks!",
                render("{{ 'abc'[-5:] }}|{{ 'abc'[:-1] }}|{{ 'abcdef'[::-2] }}|{{ 'abc'[5:] }}"
                        + "|{{ [1, 2, 3, 4, 5][1:4:2] }}|{{ [1, 2, 3][-5:] }}|{{ messages[1:]|length }}"
                        + "|{{ messages[::-1][0].role }}|{{ (messages[-1].content ~ '!')[-3:] }}",
                        MESSAGES));
    }

    @Test
    void stringsIndexByCharacter() {
        assertEquals("ac|H",
                render("{{ 'abc'[0] }}{{ 'abc'[-1] }}|{{ messages[1].content[0] }}",
                        MESSAGES));
    }

    @Test
    void keywordArgumentValuesAreWholeExpressionsAndMacroDefaultsStay() {
        assertEquals("4|{\"a\": 3, \"b\": \"xy\"}|[1d][2e]",
                render("{%- set ns = namespace(last=messages|length - 1, found=false) %}{{ ns.last }}"
                        + "|{{ dict(a=1 + 2, b='x' ~ 'y')|tojson }}|{% macro f(x, y='d') %}[{{ x }}{{ y }}"
                        + "]{% endmacro %}{{ f(1) }}{{ f(2, y='e') }}",
                        MESSAGES));
    }

    @Test
    void percentFormattingAndStringRepetition() {
        assertEquals("a-7|3.14|   ab|c   ||50%|None|===",
                render("{{ '%s-%d' % ('a', 7) }}|{{ '%.2f' % 3.14159 }}|{{ '%5s|%-4s|' % ('ab', 'c') }}"
                        + "|{{ '%d%%' % 50 }}|{{ '%s' % none }}|{{ '=' * 3 }}",
                        MESSAGES));
    }

    @Test
    void loopFiltersCountOnlyTheKeptItemsAndForElseRunsWhenNothingIterated() {
        assertEquals("1/2:Hi there;2/2:Thanks;|none|outerT",
                render("{%- for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}"
                        + ":{{ m.content }};{% else %}none{% endfor %}"
                        + "|{% for m in messages if m.role == 'nobody' %}x{% else %}none{% endfor %}"
                        + "|{% for x in [] %}{% for y in [1] %}{{ y }}{% else %}inner{% endfor %}{% else %}"
                        + "outer{% if true %}T{% else %}F{% endif %}{% endfor %}",
                        MESSAGES));
    }

    @Test
    void loopPreviousAndNextItems() {
        assertEquals("s>u u>a a>t t>u u ",
                render("{%- for m in messages %}{% if loop.previtem and loop.previtem.role == m.role %}"
                        + "={% endif %}{{ m.role[0] }}{% if loop.nextitem is defined and loop.nextitem %}"
                        + ">{{ loop.nextitem.role[0] }}{% endif %} {% endfor %}",
                        MESSAGES));
    }

    @Test
    void pythonConstantsAndIterableTests() {
        assertEquals("11|110",
                render("{%- set t = True %}{% set n = None %}{{ 1 if t else 0 }}{{ 1 if n is none else 0 }}"
                        + "|{{ 1 if 'abc' is iterable else 0 }}{{ 1 if {} is sequence else 0 }}"
                        + "{{ 1 if 3 is iterable else 0 }}",
                        MESSAGES));
    }

    @Test
    void minMaxItemsTrimAndIndentFilters() {
        assertEquals("31|a1b2||ab|  a\n  b\n\n  c",
                render("{{ [3, 1, 2]|max }}{{ [3, 1, 2]|min }}|{% for k, v in {'a': 1, 'b': 2}|items %}"
                        + "{{ k }}{{ v }}{% endfor %}|{{ messages[0].missing|trim }}|{{ 'xxabxx'|trim('x') }}"
                        + "|{{ 'a\\nb\\n\\nc'|indent(2, first=true) }}",
                        MESSAGES));
    }

    @Test
    void rsplitSplitRemainderSplitlinesAndRfind() {
        assertEquals("['a-b', 'c']|[' a b', 'c']|['a', 'b c  ']|['a', 'b']|3",
                render("{{ 'a-b-c'.rsplit('-', 1) }}|{{ ' a b  c '.rsplit(none, 1) }}"
                        + "|{{ 'a b c  '.split(none, 1) }}|{{ 'a\\nb\\n'.splitlines() }}|{{ 'abcb'.rfind('b') }}",
                        MESSAGES));
    }

    @Test
    void tagDelimitersInsideStringLiteralsAreText() {
        assertEquals("<TOOLCALL>[{{\"name\": \"t\"}}]|{%x%}|{#c#}",
                render("{{ '<TOOLCALL>[{{\"name\": \"t\"}}]' }}|{% set z = '{%x%}' %}{{ z }}|{{ '{#c#}' }}",
                        MESSAGES));
    }

    @Test
    void blockTagsStripOnlyTheIndentationOfTheirOwnLine() {
        assertEquals("a b c|1 2 |\n  x\ny z",
                render("a {% if true %}b{% endif %} c|{% for m in [1, 2] %}{{ m }} {% endfor %}"
                        + "|\n    {% if true %}\n  x\n    {% endif %}\ny {#- c #} z",
                        MESSAGES));
    }

    @Test
    void generationTagsRenderTheirBodyAsItIs() {
        assertEquals("sx ux Hello!tx ux ",
                render("{%- for m in messages %}{% if m.role == 'assistant' %}\n  {% generation %}"
                        + "\n{{ m.content }}{% endgeneration %}\n{% else %}{{ m.role[0] }}{%- generation -%}"
                        + "  x  {%- endgeneration %} {% endif %}{% endfor %}",
                        MESSAGES));
    }

    @Test
    void booleansPrintAsPythonSpellsThem() {
        assertEquals("True|False|True|5|x",
                render("{{ 1 == 1 }}|{{ messages[0].missing is defined }}|{{ 'a' in 'abc' }}|{{ messages"
                        + "|length }}|{{ 'x' if true }}",
                        MESSAGES));
    }

    @Test
    void lineBreaksComeOutAsNewlinesAndTheFinalOneIsDropped() {
        assertEquals("system\nuser\nassistant\ntool\nuser\n",
                render("{% for m in messages %}\r\n{{ m.role }}\r\n{% endfor %}\r\n",
                        MESSAGES));
    }

    @Test
    void listsAndDictsPrintAsPythonsStr() {
        assertEquals("[True, None, 1.5, \"it's\", {'a': [1, 'x\\ny']}]|{'k': False}|[{'a': 1}, {'b': 2}]|[1, 'a']|'q'"
                        + "|[{'role': 'system', 'content': 'Be brief.'}]",
                render("{{ [true, none, 1.5, 'it\\'s', {'a': [1, 'x\\ny']}] }}|{{ {'k': false} }}"
                        + "|{{ [{'a': 1}, {'b': 2}] }}|{{ [1, 'a']|string }}|{{ '%r' % 'q' }}"
                        + "|{{ messages[:1] }}",
                        MESSAGES));
    }

    @Test
    void filterBlocksFilterTheirText() {
        assertEquals("SHOUT SYSTEM|  a\n  bafter|[cap]|System X;User X;Assistant X;Tool X;User X;",
                render("{% filter upper %}shout {{ messages[0].role }}{% endfilter %}"
                        + "|\n  {%- filter indent(2, true) -%}\na\nb\n  {%- endfilter %}\nafter|{% set y %}"
                        + "{% filter trim %}  cap  {% endfilter %}{% endset %}[{{ y }}]|{% for m in messages %}"
                        + "{% filter title %}{{ m.role }} x{% endfilter %};{% endfor %}",
                        MESSAGES));
    }

    @Test
    void chainedComparisonsAsPythonReadsThem() {
        assertEquals("True|False|True|few|False|[True, True]|a",
                render("{{ 1 < 2 < 3 }}|{{ 3 > 2 > 5 }}|{{ 1 <= 1 == 1 != 2 }}|{% set n = messages|length %}"
                        + "{% if 0 < n <= 10 %}few{% endif %}|{{ not 1 < 2 < 3 }}|{{ [1 < 2 < 3, 2 > 1] }}"
                        + "|{{ 'a' if 1 < 2 < 3 else 'b' }}",
                        MESSAGES));
    }

    @Test
    void parenthesesAroundDictLiteralsNestedLiteralsAndSortFilters() {
        assertEquals("{\"a\": 1, \"b\": 2}|[{'x': 2}]|9|y|[3, 1]|Ab|A2b1|hello...",
                render("{{ ({'a': 1, 'b': 2}|tojson) }}|{{ [{'n': 'b', 'k': {'x': 2}}]|map(attribute='k')"
                        + "|list }}|{{ (1 + 2) * 3 }}|{% if (messages"
                        + "|length > 1) and not(messages[0].role == 'user') %}y{% endif %}|{{ [3, 1]"
                        + "|sort(reverse=true) }}|{{ [{'n': 'b'}, {'n': 'A'}]|sort(attribute='n')"
                        + "|map(attribute='n')|join }}|{% for k, v in {'b': 1, 'A': 2}|dictsort %}{{ k }}"
                        + "{{ v }}{% endfor %}|{{ 'hello wonderful world'|truncate(12) }}",
                        MESSAGES));
    }

    @Test
    void aPlusBeforeADigitIsAnAdditionNotASignedNumber() {
        assertEquals("2|12345|2|Thanks|1",
                render("{{ 1+1 }}|{% for m in messages %}{{ loop.index0+1 }}{% endfor %}|{{ messages[:1+1]|length }}"
                        + "|{{ messages[-2+1].content }}|{{ 2+-1 }}", MESSAGES));
    }

    @Test
    void aPlusInsideABlockTagsDelimiterKeepsItsWhitespace() {
        assertEquals("a\n  x\ny", render("a\n  {%+ if true %}\nx\n{%- endif %}\n  {% if true +%}\ny{% endif %}",
                MESSAGES));
    }

    @Test
    void loopsAndListWalkADictsKeysAndAStringsCharacters() {
        assertEquals("a,b,|a.b.|['a', 'b']|['a', 'b']|b",
                render("{% set d = {'a': 1, 'b': 2} %}{% for k in d %}{{ k }},{% endfor %}|{% for c in 'ab' %}{{ c }}."
                        + "{% endfor %}|{{ d|list }}|{{ 'ab'|list }}|{% for k in d if k != 'a' %}{{ k }}{% endfor %}",
                        MESSAGES));
    }

    @Test
    void messageTextIsPrintedNeverInterpreted() {
        assertEquals("{{ 7 * 7 }} {% if true %}yes{% endif %}",
                render("{% for m in messages %}{{ m.content }}{% endfor %}",
                        List.of(message("user", "{{ 7 * 7 }} {% if true %}yes{% endif %}"))));
    }
}

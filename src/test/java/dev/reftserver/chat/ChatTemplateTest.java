package dev.reftserver.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Jinja features chat templates rely on, each rendered as Python's Jinja renders it. */
class ChatTemplateTest {

    private static String render(String template, Map<String, Object> vars) {
        return new ChatTemplate(template, ChatTemplateGoldenTest.GOLDEN_CLOCK).render(List.of(), vars);
    }

    private static String render(String template) {
        return render(template, new HashMap<>());
    }

    @Test
    void pythonStringMethodsBehaveAsInPython() {
        assertEquals("[a b|x|  y|ab|Hello World|A-b]", render(
                "[{{ '  a b  '.strip() }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ '  y  '.rstrip() }}|"
                        + "{{ 'xaby'.strip('xy') }}|{{ 'hello world'.title() }}|{{ 'a-b'.replace('a', 'A') }}]"));
        assertEquals("1 0 1", render("{{ 1 if 'user'.startswith('us') else 0 }} {{ 1 if 'user'.endswith('us') else 0 }}"
                + " {{ 1 if 'x.py'.endswith(('.js', '.py')) else 0 }}"));
        assertEquals("a|b||c 2 x", render(
                "{{ 'a,b,,c'.split(',')|join('|') }} {{ ' p  q '.split()|length }} {{ 'x</think>y'.split('</think>')[0] }}"));
        assertEquals("ABC abc", render("{{ 'abc'.upper() }} {{ 'ABC'.lower() }}"));
    }

    @Test
    void dictMethodsGiveItemsKeysValuesAndGetWithDefault() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("b", 1);
        d.put("a", "x");
        Map<String, Object> vars = new HashMap<>();
        vars.put("d", d);
        assertEquals("b=1;a=x;", render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", vars));
        assertEquals("b,a 1 none", render("{{ d.keys()|join(',') }} {{ d.get('b') }} {{ d.get('zz', 'none') }}",
                vars));
    }

    @Test
    void listsAndDictsPrintAsPythonPrintsThem() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("a", 1);
        Map<String, Object> vars = new HashMap<>();
        vars.put("d", d);
        vars.put("xs", List.of(1, "b"));
        assertEquals("{'a': 1} [1, 'b']", render("{{ d }} {{ xs }}", vars));
    }

    @Test
    void notBindsLooserThanTestsAndComparisonsAsInJinja() {
        Map<String, Object> vars = new HashMap<>();
        vars.put("xs", List.of(1, 2));
        assertEquals("yes", render("{% if not xs|length == 1 %}yes{% endif %}", vars));
        assertEquals("defined", render("{% if not xs is defined %}undefined{% else %}defined{% endif %}", vars));
        assertEquals("21", render("{% for x in xs[::-1] %}{{ x }}{% endfor %}", vars));
    }

    @Test
    void tojsonIsPythonJsonDumpsWithoutHtmlEscaping() {
        Map<String, Object> obj = new LinkedHashMap<>();
        obj.put("z", "Zürich <&> 'q' \"d\"\n");
        obj.put("n", List.of(1, 2.5, true));
        obj.put("none", null);
        Map<String, Object> vars = new HashMap<>();
        vars.put("o", obj);
        assertEquals("{\"z\": \"Zürich <&> 'q' \\\"d\\\"\\n\", \"n\": [1, 2.5, true], \"none\": null}",
                render("{{ o|tojson }}", vars));
        assertEquals("{\n  \"z\": \"Zürich <&> 'q' \\\"d\\\"\\n\",\n  \"n\": [\n    1,\n    2.5,\n    true\n  ],\n"
                + "  \"none\": null\n}", render("{{ o|tojson(indent=2) }}", vars));
    }

    @Test
    void namespaceLoopControlsAndStrftimeNow() {
        assertEquals("3", render(
                "{% set ns = namespace(n=0) %}{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}"
                        + "{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"));
        assertEquals("05 Mar 2025 / March 05, 2025", render("{{ strftime_now('%d %b %Y') }} / {{ strftime_now('%B %d, %Y') }}"));
    }

    @Test
    void raiseExceptionStopsTheRenderWithTheTemplatesMessage() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> render("before{{ raise_exception('Roles must alternate') }}after"));
        assertEquals("Roles must alternate", e.getMessage());
    }
}

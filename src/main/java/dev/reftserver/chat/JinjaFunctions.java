package dev.reftserver.chat;

import com.hubspot.jinjava.el.ext.NamedParameter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.collections.PyList;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The functions a chat template gets beyond jinjava's: Jinja's {@code dict()}, and the ones the {@link JinjaCompat}
 * rewrites call. Those are functions, not filters on a parenthesized operand,
 * because jinjava reads any parenthesized expression holding a comma, even one inside a dict literal, as a tuple.
 */
public final class JinjaFunctions {

    private JinjaFunctions() {
    }

    /** Every function, as jinjava registers them. */
    static List<ELFunctionDefinition> all() {
        return List.of(
                function("py_id", "id", Object.class),
                function("py_print", "print", Object.class),
                function("py_list", "list", Object.class),
                function("py_slice", "slice", Object.class, Object.class, Object.class, Object.class),
                function("py_format", "format", Object.class, Object[].class),
                function("py_repeat", "repeat", Object.class, Object.class),
                function("py_loop_if", "loopIf", Object.class, String.class, String.class),
                function("py_iter", "iter", Object.class),
                function("dict", "dict", Object[].class));
    }

    private static ELFunctionDefinition function(String name, String method, Class<?>... parameters) {
        return new ELFunctionDefinition("", name, JinjaFunctions.class, method, parameters);
    }

    /** {@code py_id(x)}: x, grouped as parentheses would group it. */
    public static Object id(Object x) {
        return x;
    }

    /** {@code py_print(x)}: what {@code {{ x }}} prints. */
    public static Object print(Object x) {
        return JinjaFilters.print(x);
    }

    /** {@code py_list(xs)}: the items of xs as a list. */
    public static Object list(Object xs) {
        return xs == null ? new PyList(new ArrayList<>()) : new PyList(new ArrayList<>(PyFilters.items(xs)));
    }

    /** {@code py_slice(x, start, stop, step)}: Python's {@code x[start:stop:step]}. */
    public static Object slice(Object x, Object start, Object stop, Object step) {
        return PyFilters.slice(x, new Object[] {start, stop, step});
    }

    /** {@code py_format(fmt, args...)}: Python's {@code fmt % args}. */
    public static Object format(Object fmt, Object... args) {
        return PyFilters.format(fmt, args);
    }

    /** {@code py_repeat(text, n)}: Python's {@code text * n}. */
    public static Object repeat(Object text, Object n) {
        return PyFilters.repeat(text, new Object[] {n});
    }

    /** {@code py_iter(xs)}: what a for loop walks: a dict's keys, a string's characters, else xs itself. */
    public static Object iter(Object xs) {
        if (xs instanceof Map<?, ?> map) {
            return new PyList(new ArrayList<>(map.keySet()));
        }
        return xs instanceof CharSequence s ? JinjaFilters.characters(s) : xs;
    }

    /** {@code py_loop_if(xs, 'x', 'cond')}: the items a loop filter keeps. */
    public static Object loopIf(Object xs, String targets, String condition) {
        return JinjaFilters.loopIf(xs, JinjavaInterpreter.getCurrent(), targets, condition);
    }

    /** Jinja's {@code dict(mapping, key=value, ...)}: a new dict, in the keywords' order. */
    public static Map<String, Object> dict(Object... parameters) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Object p : parameters) {
            if (p instanceof NamedParameter named) {
                out.put(named.getName(), named.getValue());
            } else if (p instanceof Map<?, ?> map) {
                map.forEach((k, v) -> out.put(String.valueOf(k), v));
            } else if (p != null) {
                throw new IllegalArgumentException("dict() takes a mapping and keyword arguments");
            }
        }
        return out;
    }
}

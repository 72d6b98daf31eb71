package dev.reftserver.intervention;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * pyreft's prompt positions spec: {@code fN+lM}, {@code fN} or {@code lM}. For a prompt of {@code L} tokens (BOS
 * included) the first group is {@code [0, min(L/2, N))} and the last group {@code [L - min(L/2, M), L)}, exactly as
 * {@code pyreft.dataset.get_intervention_locations} with {@code last_position = L}. Positions pyreft would pad are
 * simply absent, so a 1-token prompt selects nothing.
 *
 * @param first N, 0 when the spec has no first group
 * @param last  M, 0 when the spec has no last group
 */
public record PositionSpec(int first, int last) {

    /** Larger counts are surely mistakes and would only risk overflow. */
    static final int MAX_COUNT = 1_000_000;

    private static final Pattern FORM = Pattern.compile("f(\\d{1,7})\\+l(\\d{1,7})|f(\\d{1,7})|l(\\d{1,7})");

    public PositionSpec {
        if (first < 0 || last < 0 || first > MAX_COUNT || last > MAX_COUNT || first + last == 0) {
            throw new IllegalArgumentException("invalid position counts f" + first + " l" + last);
        }
    }

    /**
     * @throws BundleRejectedException (reason {@code positions}) for anything but {@code fN+lM}, {@code fN},
     *     {@code lM} with counts from 1 to 1000000
     */
    public static PositionSpec parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new BundleRejectedException("positions", "positions spec is missing: expected fN+lM, fN or lM");
        }
        Matcher m = FORM.matcher(spec.trim());
        if (!m.matches()) {
            throw new BundleRejectedException("positions",
                    "positions spec '" + spec + "' is not one of fN+lM, fN, lM (e.g. f5+l5, f3, l1)");
        }
        int first = 0;
        int last = 0;
        if (m.group(1) != null) {
            first = Integer.parseInt(m.group(1));
            last = Integer.parseInt(m.group(2));
        } else if (m.group(3) != null) {
            first = Integer.parseInt(m.group(3));
        } else {
            last = Integer.parseInt(m.group(4));
        }
        if ((m.group(1) != null && (first == 0 || last == 0)) || first + last == 0
                || first > MAX_COUNT || last > MAX_COUNT) {
            throw new BundleRejectedException("positions",
                    "positions spec '" + spec + "': each count must be between 1 and " + MAX_COUNT);
        }
        return new PositionSpec(first, last);
    }

    public boolean hasFirst() {
        return first > 0;
    }

    public boolean hasLast() {
        return last > 0;
    }

    /** Whether the spec names both groups, so untied interventions split between them. */
    public boolean hasBothGroups() {
        return hasFirst() && hasLast();
    }

    /** {@code [0, min(L/2, N))}. */
    public int[] firstPositions(int promptLength) {
        int n = Math.min(promptLength / 2, first);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }

    /** {@code [L - min(L/2, M), L)}. */
    public int[] lastPositions(int promptLength) {
        int n = Math.min(promptLength / 2, last);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = promptLength - n + i;
        }
        return out;
    }

    /** The positions one intervention edits, ascending and distinct (the groups never overlap: each is at most L/2). */
    public int[] positions(ApplyTo applyTo, int promptLength) {
        if (promptLength < 0) {
            throw new IllegalArgumentException("negative prompt length " + promptLength);
        }
        return switch (applyTo) {
            case FIRST -> firstPositions(promptLength);
            case LAST -> lastPositions(promptLength);
            case ALL -> {
                int[] f = firstPositions(promptLength);
                int[] l = lastPositions(promptLength);
                int[] all = new int[f.length + l.length];
                System.arraycopy(f, 0, all, 0, f.length);
                System.arraycopy(l, 0, all, f.length, l.length);
                yield all;
            }
        };
    }

    /** The canonical spec text, e.g. {@code f3+l3}. */
    @Override
    public String toString() {
        if (hasBothGroups()) {
            return "f" + first + "+l" + last;
        }
        return hasFirst() ? "f" + first : "l" + last;
    }
}

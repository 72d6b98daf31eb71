package dev.reftserver.engine;

import java.util.List;

/**
 * Finds stop strings in a row's growing text and says how much text is safe to stream: a suffix that could still
 * become a stop string is held back until it either completes (and is cut) or cannot any more.
 */
final class StopMatcher {

    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** Appends decoded text; returns the part that may be sent now. */
    String append(String piece) {
        if (stopped) {
            return "";
        }
        text.append(piece);
        int cut = firstStop();
        if (cut >= 0) {
            stopped = true;
            return take(cut);
        }
        return take(text.length() - heldBack());
    }

    /** At the end of the row: releases what was held back (no stop string completed). */
    String flush() {
        return stopped ? "" : take(text.length());
    }

    boolean stopped() {
        return stopped;
    }

    private String take(int upTo) {
        if (upTo <= emitted) {
            return "";
        }
        String out = text.substring(emitted, upTo);
        emitted = upTo;
        return out;
    }

    private int firstStop() {
        int best = -1;
        // Only text not yet emitted can hold a new match (a match may start in held-back text).
        int from = Math.max(0, emitted - maxStopLength());
        for (String s : stops) {
            int at = text.indexOf(s, from);
            if (at >= 0 && (best < 0 || at < best)) {
                best = at;
            }
        }
        return best;
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldBack() {
        int held = 0;
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, text.length() - emitted); len > held; len--) {
                if (text.substring(text.length() - len).equals(s.substring(0, len))) {
                    held = len;
                    break;
                }
            }
        }
        return held;
    }

    private int maxStopLength() {
        int m = 0;
        for (String s : stops) {
            m = Math.max(m, s.length());
        }
        return m;
    }
}

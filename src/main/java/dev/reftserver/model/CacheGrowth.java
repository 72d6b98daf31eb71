package dev.reftserver.model;

/**
 * How a {@link KvCache} sizes its arrays: rows and positions at least double when short, bounded by the rows it may
 * hold, a row's context and the token budget (rows x positions). When positions grow, only the rows in use are kept,
 * so a lone long prompt does not lengthen every idle row with it (a 2,048-token prompt on a 16-row cache of a 1B
 * model would take 2 GB instead of 128 MB). Either way rows give way to longer positions within the budget, but never
 * below the rows needed (a request larger than the budget still runs, alone) or a row that holds positions.
 *
 * @param maxRows      rows the cache may hold
 * @param maxTokens    positions one row may hold
 * @param budgetTokens rows x positions the cache grows to at most, unless one request needs more
 */
record CacheGrowth(int maxRows, int maxTokens, long budgetTokens) {

    /** Positions a fresh cache holds before it first grows. */
    static final int INITIAL_TOKENS = 256;

    /** A size of the cache's arrays: rows x positions per row. */
    record Size(int rows, int capacity) {
    }

    CacheGrowth {
        if (maxRows < 1 || maxTokens < 1) {
            throw new IllegalArgumentException("a cache needs at least one row and one token, got " + maxRows + " x "
                    + maxTokens);
        }
    }

    /** The size a fresh cache starts at, and shrinks back to when empty. */
    Size initial() {
        int tokens = Math.min(maxTokens, INITIAL_TOKENS);
        return new Size((int) Math.max(1, Math.min(maxRows, budgetTokens / tokens)), tokens);
    }

    /**
     * The size that holds slots [0, rowsNeeded) of up to {@code tokensNeeded} positions each, from {@code now} with
     * the slots' filled {@code lengths}; {@code now} itself when it already does.
     *
     * @throws IllegalArgumentException past {@link #maxRows} or {@link #maxTokens}
     */
    Size next(Size now, int[] lengths, int rowsNeeded, int tokensNeeded) {
        if (rowsNeeded > maxRows || tokensNeeded > maxTokens) {
            throw new IllegalArgumentException(rowsNeeded + " rows of " + tokensNeeded + " tokens exceed the cache's "
                    + maxRows + " rows of " + maxTokens);
        }
        rowsNeeded = Math.max(1, rowsNeeded);
        if (rowsNeeded <= now.rows() && tokensNeeded <= now.capacity()) {
            return now;
        }
        int newCapacity = now.capacity();
        if (tokensNeeded > now.capacity()) {
            long doubled = Math.min(Math.min(2L * now.capacity(), maxTokens), budgetTokens / rowsNeeded);
            newCapacity = (int) Math.max(tokensNeeded, doubled);
        }
        int inUse = rowsNeeded;
        for (int s = rowsNeeded; s < now.rows(); s++) {
            if (lengths[s] > 0) {
                inUse = s + 1;
            }
        }
        long target = rowsNeeded > now.rows() ? Math.min(2L * now.rows(), maxRows)
                : newCapacity > now.capacity() ? inUse : now.rows();
        int newRows = (int) Math.max(Math.max(rowsNeeded, inUse), Math.min(target, budgetTokens / newCapacity));
        return new Size(newRows, newCapacity);
    }
}

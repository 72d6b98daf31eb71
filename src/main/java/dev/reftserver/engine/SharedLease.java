package dev.reftserver.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Splits one lease among the rows of a request (n samples of several prompts use one bundle): each row gets its own
 * share to close, and the lease itself closes when the last share does. A share closes at most once.
 */
public final class SharedLease {

    private SharedLease() {
    }

    /** {@code rows} shares of {@code lease}; closing all of them closes it once. A null lease gives null shares. */
    public static List<AutoCloseable> split(AutoCloseable lease, int rows) {
        if (rows < 1) {
            throw new IllegalArgumentException("a lease splits into at least one share, not " + rows);
        }
        if (lease == null) {
            return Collections.nCopies(rows, null);
        }
        AtomicInteger open = new AtomicInteger(rows);
        List<AutoCloseable> shares = new ArrayList<>(rows);
        for (int i = 0; i < rows; i++) {
            shares.add(new AutoCloseable() {
                private boolean closed;

                @Override
                public synchronized void close() throws Exception {
                    if (!closed) {
                        closed = true;
                        if (open.decrementAndGet() == 0) {
                            lease.close();
                        }
                    }
                }
            });
        }
        return shares;
    }
}

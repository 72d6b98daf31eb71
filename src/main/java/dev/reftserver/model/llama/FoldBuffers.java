package dev.reftserver.model.llama;

import dev.reftserver.model.ops.NativeOps;
import java.util.ArrayDeque;

/**
 * Reusable bfloat16 buffers that a CPU load folds projections into before packing them ({@link ProjectionFold}).
 * A folded matrix lives only until it is packed, so each loading thread writes its folds into one buffer, whose
 * pages are faulted in once, instead of into fresh memory each time: on this machine a fresh page costs about half
 * a nanosecond a byte, as much as the fold's arithmetic.
 */
final class FoldBuffers implements AutoCloseable {

    private final ArrayDeque<Buffer> free = new ArrayDeque<>();

    /** A buffer for one thread until {@link #give}. */
    synchronized Buffer take() {
        Buffer b = free.poll();
        return b == null ? new Buffer() : b;
    }

    synchronized void give(Buffer b) {
        free.push(b);
    }

    /** Frees every buffer given back; none may be in use. */
    @Override
    public synchronized void close() {
        free.forEach(Buffer::free);
        free.clear();
    }

    /** One flat bfloat16 tensor, replaced by a larger one when a fold needs more. */
    static final class Buffer {

        private long handle;
        private long capacity;

        /** A flat bfloat16 tensor of at least {@code elements} (valid until the next call). */
        long atLeast(long elements) {
            if (capacity < elements) {
                free();
                try (NativeOps op = new NativeOps()) {
                    handle = op.release(op.emptyBfloat16(elements));
                }
                capacity = elements;
            }
            return handle;
        }

        private void free() {
            if (handle != 0) {
                try (NativeOps op = new NativeOps()) {
                    op.adopt(handle);
                }
                handle = 0;
                capacity = 0;
            }
        }
    }
}

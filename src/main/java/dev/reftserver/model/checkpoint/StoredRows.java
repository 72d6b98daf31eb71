package dev.reftserver.model.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A stored matrix [rows, cols] in native memory as the file stores it (F32, F16 or BF16, little-endian), row by
 * row: a safetensors file's own bytes (memory maps of whole rows, unmapped on {@link #close}, so a loader that copies
 * from them holds the file's pages only while it reads them) or values in memory copied into a native buffer. A
 * loader reads a matrix through this when it rearranges it anyway ({@link InputMajor}: transposes, fuses, widens),
 * instead of reading it into an array first. One reader is for one thread.
 */
public interface StoredRows extends AutoCloseable {

    long rows();

    long cols();

    /** How each value is stored: F32, F16 or BF16, little-endian. */
    String dtype();

    /**
     * The native address of row {@code row}'s first value; the row's {@link #cols} values follow it. Valid until
     * {@link #close}, for reads only.
     */
    long address(long row);

    @Override
    void close();

    /** Rows [from, from + count) of {@code rows}, closed with it. */
    static StoredRows slice(StoredRows rows, long from, long count) {
        return new StoredRows() {
            @Override
            public long rows() {
                return count;
            }

            @Override
            public long cols() {
                return rows.cols();
            }

            @Override
            public String dtype() {
                return rows.dtype();
            }

            @Override
            public long address(long row) {
                return rows.address(from + row);
            }

            @Override
            public void close() {
                rows.close();
            }
        };
    }

    /** Row-major float32 values in memory (copied into a native buffer, freed on close). */
    static StoredRows of(float[] values, long rows, long cols) {
        ByteBuffer copy = ByteBuffer.allocateDirect(Math.multiplyExact(values.length, Float.BYTES))
                .order(ByteOrder.LITTLE_ENDIAN);
        copy.asFloatBuffer().put(values);
        long base = RawMemory.address(copy);
        return new StoredRows() {
            private boolean closed;

            @Override
            public long rows() {
                return rows;
            }

            @Override
            public long cols() {
                return cols;
            }

            @Override
            public String dtype() {
                return "F32";
            }

            @Override
            public long address(long row) {
                if (closed || row < 0 || row >= rows) {
                    throw new IllegalStateException("row " + row + " of a closed or " + rows + "-row matrix");
                }
                return base + row * cols * Float.BYTES;
            }

            @Override
            public void close() {
                if (!closed) {
                    closed = true;
                    RawMemory.free(copy);
                }
            }
        };
    }

    /**
     * The matrix stored as {@code dtype} (F32, F16 or BF16) from byte {@code begin} of {@code path}'s file, mapped
     * in windows of whole rows of at most {@code window} bytes when they are first read; or of {@code bytes} (a
     * file held in memory) when {@code path} is null.
     */
    static StoredRows mapped(Path path, ByteBuffer bytes, String dtype, long begin, long rows, long cols,
            int window) {
        return new Mapped(path, bytes, dtype, begin, rows, cols, window);
    }

    /** A safetensors matrix read through memory maps; see {@link #mapped}. */
    final class Mapped implements StoredRows {

        private final Path path;
        private final ByteBuffer bytes;
        private final int width;
        private final long begin;
        private final long rows;
        private final long cols;
        /** Whole rows per map. */
        private final long rowsPerMap;
        private final String dtype;
        private final ByteBuffer[] maps;
        private final long[] addresses;

        private Mapped(Path path, ByteBuffer bytes, String dtype, long begin, long rows, long cols, int window) {
            this.path = path;
            this.bytes = bytes;
            this.dtype = dtype;
            this.width = dtype.equals("F32") ? 4 : 2;
            this.begin = begin;
            this.rows = rows;
            this.cols = cols;
            long rowBytes = cols * width;
            if (rowBytes > Integer.MAX_VALUE) {
                throw new CheckpointException(where() + ": a row of " + cols + " values is larger than one map");
            }
            this.rowsPerMap = Math.max(1, window / Math.max(1, rowBytes));
            int n = (int) ((rows + rowsPerMap - 1) / rowsPerMap);
            this.maps = new ByteBuffer[n];
            this.addresses = new long[n];
        }

        @Override
        public long rows() {
            return rows;
        }

        @Override
        public long cols() {
            return cols;
        }

        @Override
        public String dtype() {
            return dtype;
        }

        @Override
        public long address(long row) {
            if (row < 0 || row >= rows) {
                throw new IndexOutOfBoundsException("row " + row + " of " + rows);
            }
            int m = (int) (row / rowsPerMap);
            if (maps[m] == null) {
                map(m);
            }
            return addresses[m] + (row - m * rowsPerMap) * cols * width;
        }

        private void map(int m) {
            long first = m * rowsPerMap;
            long count = Math.min(rowsPerMap, rows - first);
            long at = begin + first * cols * width;
            int len = Math.toIntExact(count * cols * width);
            ByteBuffer b;
            if (path == null) {
                b = bytes.duplicate().position(Math.toIntExact(at)).limit(Math.toIntExact(at + len)).slice();
            } else {
                try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                    b = ch.map(FileChannel.MapMode.READ_ONLY, at, len);
                } catch (IOException e) {
                    throw CheckpointException.unreadable(path, e);
                }
            }
            if (path == null) {
                // a file held in memory (tests): a native copy of these rows, freed on close
                b = ByteBuffer.allocateDirect(len).put(b).flip();
            }
            maps[m] = b;
            addresses[m] = RawMemory.address(b);
        }

        /** Unmaps what was mapped: the file's pages stop counting as this process's memory now, not at a GC. */
        @Override
        public void close() {
            for (int m = 0; m < maps.length; m++) {
                if (maps[m] != null) {
                    RawMemory.free(maps[m]);
                }
                maps[m] = null;
                addresses[m] = 0;
            }
        }

        private String where() {
            return path == null ? "safetensors" : path.toString();
        }
    }
}

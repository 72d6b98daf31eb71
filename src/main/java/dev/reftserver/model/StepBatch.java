package dev.reftserver.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.ops.NativeOps;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What one forward step runs on, built once per step and shared by every layer: its rows and positions, the additive
 * masks (one per sliding window that matters), and where this step's keys and values go in the {@link KvCache}.
 *
 * <p>Prefill: {@code rows} right-padded rows of {@code tokens} positions each, starting at position {@code start} of
 * every row (0 for a whole prompt, the chunk's offset in a chunked prefill); query t of row i sees keys j &lt;=
 * start + t with j &lt; start + len_i. Decode: one new token for each of slots [0, rows) at position len_i; it sees
 * the cached keys [0, len_i] of its own row. When every decode row is at one position ({@link #samePosition()},
 * always so at batch 1) there is no mask and no index array: the cache takes the step's keys as one strided copy
 * and a sliding window is a narrower slice of keys.
 *
 * <p>Mixed ({@link #mixed}): a prefill of new rows and a decode step of the running ones in one forward pass, so
 * the weights are read once for both. The layers see one row of all the step's tokens, the prefill's padded rows
 * first, then one token per decode row; attention splits them back into its two parts ({@link #prefillPart},
 * {@link #decodePart}), each with its own masks and cache writes.
 *
 * <p>Arrays here belong to the step's manager and are created by the thread that drives the step.
 */
public final class StepBatch {

    /** A decode step over a bfloat16 cache reads keys in multiples of this many positions. */
    static final int KEY_BUCKET = 64;

    private final NDManager step;
    private final boolean prefill;
    private final int rows;
    private final int tokens;
    private final int start;
    private final int[] slots;
    private final int keyLength;
    private final int samePosition;
    private final long[] positionValues;
    private final int[] sequenceLengths;
    private NDArray positions;
    private final NDArray mask;
    private final Map<Integer, NDArray> windowMasks = new HashMap<>();
    private final BlockOptions block;
    private final NDArray keyWrite;
    private final NDArray valueWrite;
    /** A decode step over a bfloat16 cache: each row's slot and position (int64 [n]); else null. */
    private NDArray writeSlots;
    private NDArray writePositions;
    private final Map<String, NDArray> memo = new HashMap<>();
    /** A mixed step's two parts; null otherwise. */
    private StepBatch prefillPart;
    private StepBatch decodePart;

    private StepBatch(NDManager step, BlockOptions block, boolean prefill, int[] slots, int tokens, int start,
            int keyLength, int samePosition, long[] positions, int[] sequenceLengths, NDArray mask, long[] keyWrite,
            long[] valueWrite) {
        this.step = step;
        this.block = block;
        this.prefill = prefill;
        this.slots = slots;
        this.rows = slots.length;
        this.tokens = tokens;
        this.start = start;
        this.keyLength = keyLength;
        this.samePosition = samePosition;
        this.positionValues = positions;
        this.sequenceLengths = sequenceLengths;
        this.mask = mask;
        this.keyWrite = keyWrite == null ? null : step.create(keyWrite);
        this.valueWrite = valueWrite == null ? null : step.create(valueWrite);
    }

    /**
     * A prefill of {@code tokens} positions per row into the given cache slots, starting at position {@code start}
     * of every row (its earlier positions already cached). Call after {@link KvCache#ensure}: the flat write
     * indices depend on the cache's capacity.
     *
     * @param sequenceLengths each row's whole prompt length (a chunk's rows are parts of longer prompts)
     */
    static StepBatch prefill(NDManager step, BlockOptions block, KvCache cache, int[] slots, int[] lengths,
            int[] sequenceLengths, int tokens, int start, DataType dtype) {
        int n = lengths.length;
        long[] pos = new long[n * tokens];
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < tokens; t++) {
                pos[i * tokens + t] = start + t;
            }
        }
        int keyLength = start + tokens;
        StepBatch batch = new StepBatch(step, block, true, slots.clone(), tokens, start, keyLength, -1, pos,
                sequenceLengths.clone(), StepMasks.prefillMask(step, lengths, tokens, start, 0, dtype),
                StepMasks.keyIndex(cache, slots, tokens, pos), StepMasks.valueIndex(cache, slots, tokens, pos));
        for (int w : block.slidingWindows()) {
            if (w > 0 && w < keyLength && !batch.windowMasks.containsKey(w)) {
                batch.windowMasks.put(w, StepMasks.prefillMask(step, lengths, tokens, start, w, dtype));
            }
        }
        return batch;
    }

    /** A decode step of slots [0, n), each at its cached length. Call after {@link KvCache#ensure}. */
    static StepBatch decode(NDManager step, BlockOptions block, KvCache cache, int n, DataType dtype) {
        long[] pos = new long[n];
        int[] slots = new int[n];
        int[] sequenceLengths = new int[n];
        int maxPos = 0;
        int minPos = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            slots[i] = i;
            pos[i] = cache.length(i);
            sequenceLengths[i] = cache.length(i) + 1;
            maxPos = Math.max(maxPos, cache.length(i));
            minPos = Math.min(minPos, cache.length(i));
        }
        int keyLength = maxPos + 1;
        boolean same = minPos == maxPos;
        // Over a bfloat16 cache: keys [0, keyLength) rounded up to a multiple of KEY_BUCKET (within the capacity),
        // positions past each row's own masked, so the attention's bfloat16 products keep one shape for KEY_BUCKET
        // steps (Attention.decode).
        boolean bucketed = cache.bfloat16();
        int keys = bucketed
                ? (int) Math.min(cache.capacity(), (keyLength + KEY_BUCKET - 1L) / KEY_BUCKET * KEY_BUCKET)
                : keyLength;
        if (same && !bucketed) {
            return new StepBatch(step, block, false, slots, 1, 0, keyLength, maxPos, pos, sequenceLengths, null, null,
                    null);
        }
        // Rows of different lengths (or padded keys): each sees only its own keys [0, pos_i] (and within its
        // window). Rows at one position still write their keys as one strided copy.
        // Over a bfloat16 cache the attention writes each row's key and value itself, at (slot, position).
        boolean flat = !same && !bucketed;
        StepBatch batch = new StepBatch(step, block, false, slots, 1, 0, keys, same ? maxPos : -1, pos,
                sequenceLengths, StepMasks.decodeMask(step, pos, keys, 0, dtype),
                flat ? StepMasks.keyIndex(cache, slots, 1, pos) : null,
                flat ? StepMasks.valueIndex(cache, slots, 1, pos) : null);
        if (bucketed) {
            long[] slotValues = new long[n];
            for (int i = 0; i < n; i++) {
                slotValues[i] = slots[i];
            }
            batch.writeSlots = step.create(slotValues);
            batch.writePositions = step.create(pos);
        }
        for (int w : block.slidingWindows()) {
            if (w > 0 && w < keys && !batch.windowMasks.containsKey(w)) {
                batch.windowMasks.put(w, StepMasks.decodeMask(step, pos, keys, w, dtype));
            }
        }
        return batch;
    }

    /**
     * A prefill ({@link #prefill}, whole prompts from position 0) and a decode step ({@link #decode}) as one step of
     * {@code prefill.rows() x prefill.tokens() + decode.rows()} tokens in one row, the prefill's first.
     */
    static StepBatch mixed(StepBatch prefill, StepBatch decode) {
        if (!prefill.prefill || prefill.start != 0 || decode.prefill || prefill.step != decode.step) {
            throw new IllegalArgumentException("a mixed step is a whole-prompt prefill and a decode step");
        }
        int p = prefill.rows * prefill.tokens;
        int n = p + decode.rows;
        long[] pos = new long[n];
        int[] sequenceLengths = new int[n];
        for (int k = 0; k < n; k++) {
            boolean ofPrefill = k < p;
            pos[k] = ofPrefill ? prefill.positionValues[k] : decode.positionValues[k - p];
            sequenceLengths[k] = ofPrefill ? prefill.sequenceLengths[k / prefill.tokens]
                    : decode.sequenceLengths[k - p];
        }
        StepBatch batch = new StepBatch(prefill.step, prefill.block, false, new int[] {-1}, n, 0, -1, -1, pos,
                sequenceLengths, null, null, null);
        batch.prefillPart = prefill;
        batch.decodePart = decode;
        return batch;
    }

    /** Whether this step is a prefill and a decode step in one ({@link #mixed}). */
    public boolean isMixed() {
        return prefillPart != null;
    }

    /** A mixed step's prefill: its first {@code rows() x tokens()} tokens. */
    public StepBatch prefillPart() {
        return prefillPart;
    }

    /** A mixed step's decode step: its last {@code rows()} tokens, one per running row. */
    public StepBatch decodePart() {
        return decodePart;
    }

    /** The additive mask of {@code layer} as a handle (its sliding window's where that matters), or 0 for none. */
    public long mask(int layer) {
        NDArray windowed = windowMasks.get(block.window(layer));
        NDArray m = windowed != null ? windowed : mask;
        return m == null ? 0 : NativeOps.handle(m);
    }

    public NDManager step() {
        return step;
    }

    public boolean isPrefill() {
        return prefill;
    }

    /** In a decode step whose rows are all at one position (always so at batch 1), that position; otherwise -1. */
    public int samePosition() {
        return samePosition;
    }

    public int rows() {
        return rows;
    }

    public int tokens() {
        return tokens;
    }

    /** A prefill's first position (the same in every row); 0 in a decode step. */
    public int start() {
        return start;
    }

    /** The cache slot of each row. */
    public int[] slots() {
        return slots;
    }

    /** Keys a query may read: positions [0, keyLength) of its row. */
    public int keyLength() {
        return keyLength;
    }

    /** The flat key and value write indices (int64 handles) of a prefill or mixed-length decode; else 0. */
    public long keyWrite() {
        return keyWrite == null ? 0 : NativeOps.handle(keyWrite);
    }

    public long valueWrite() {
        return valueWrite == null ? 0 : NativeOps.handle(valueWrite);
    }

    /** A decode step over a bfloat16 cache: each row's cache slot (int64 [n]); else 0. */
    public long writeSlots() {
        return writeSlots == null ? 0 : NativeOps.handle(writeSlots);
    }

    /** A decode step over a bfloat16 cache: each row's position, where its key and value go (int64 [n]); else 0. */
    public long writePositions() {
        return writePositions == null ? 0 : NativeOps.handle(writePositions);
    }

    /**
     * Row i's position of token t, {@code [i * tokens + t]}: the same values as {@link #positions()}, on the heap.
     */
    public long position(int i, int t) {
        return positionValues[i * tokens + t];
    }

    /**
     * The length of row i's sequence as transformers' rotary module sees it in a forward of this row alone: the
     * whole prompt in a prefill (also in each chunk of one), its position + 1 in a decode step. Longrope picks its
     * factors by it.
     */
    public int sequenceLength(int i) {
        return sequenceLength(i, 0);
    }

    /** {@link #sequenceLength(int)} of the sequence row i's token t belongs to (in a mixed step, each its own). */
    public int sequenceLength(int i, int t) {
        return isMixed() ? sequenceLengths[t] : sequenceLengths[i];
    }

    /** Token positions [rows, tokens] (int64), created on first use. */
    public NDArray positions() {
        if (positions == null) {
            positions = step.create(positionValues, new Shape(rows, tokens));
        }
        return positions;
    }

    /**
     * Per-step values an architecture derives once and reuses in every layer (e.g. RoPE cos/sin rows). Call it from
     * the thread that drives the step, not from inside the parts of a split op.
     */
    public NDArray memo(String key, Supplier<NDArray> compute) {
        return memo.computeIfAbsent(key, k -> compute.get());
    }
}

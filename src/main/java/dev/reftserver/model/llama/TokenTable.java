package dev.reftserver.model.llama;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.reftserver.model.ops.NativeOps;
import dev.reftserver.model.ops.Split;
import dev.reftserver.model.ops.Views;

/**
 * Where a token's embedding row comes from: the embedding table, or, where the output layer shares it (tied
 * embeddings, weights not in bfloat16), the output layer's parts, which hold the table's rows as their columns.
 */
final class TokenTable {

    /** The table [vocab, d], or null where the output layer holds it. */
    private final NDArray embed;
    /** The output layer's parts [d, vocab slice] (float32 input-major), read where {@link #embed} is null. */
    private final NDArray[] lmHead;
    /** Boundaries of the vocabulary slices of the output layer's parts. */
    private final int[] vocab;
    /** Gemma's sqrt(d) or Granite's multiplier as a float32 scalar where the table is shared (else folded), or null. */
    private final NDArray scale;
    private final boolean bfloat16;

    TokenTable(NDArray embed, NDArray[] lmHead, int[] vocab, NDArray scale, boolean bfloat16) {
        this.embed = embed;
        this.lmHead = lmHead;
        this.vocab = vocab;
        this.scale = scale;
        this.bfloat16 = bfloat16;
    }

    /**
     * Row {@code id} as a view, [1, d] or [d, 1], where it can be one (float32, no scale to apply): a batch-1
     * decode step's embedding in one native call. Null otherwise.
     */
    NDArray view(NDManager step, long id) {
        if (bfloat16 || (embed == null && scale != null)) {
            return null;
        }
        if (embed != null) {
            return Views.slice(step, embed, 0, id, id + 1);
        }
        int p = Split.partOf(vocab, id);
        return Views.slice(step, lmHead[p], 1, id - vocab[p], id - vocab[p] + 1);
    }

    /**
     * Rows {@code ids} as a new [ids.length, d] tensor owned by {@code op}, in the model's dtype (a bfloat16 table's
     * rows widened to float32).
     */
    long rows(NativeOps op, NDManager step, long[] ids) {
        if (embed != null) {
            long table = NativeOps.handle(embed);
            long index = NativeOps.handle(step.create(ids));
            return bfloat16 ? op.rowsBfloat16(table, index) : op.take(table, index);
        }
        // Shared with the output layer: part p holds rows [vocab[p], vocab[p + 1]) of the table as its columns.
        long rows = Split.gatherColumns(op, step, lmHead, vocab, ids);
        if (scale != null) {
            op.muli(rows, NativeOps.handle(scale));
        }
        return rows;
    }
}

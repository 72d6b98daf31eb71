package dev.reftserver.intervention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.reftserver.model.BlockHook;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.IntStream;

/**
 * The interventions of one prefill batch: row i (right-padded to T tokens, {@code promptLength} real ones) gets
 * its own bundle or none. Built once per batch; all index arithmetic happens here in Java, so that after block L
 * the hook only gathers the intervened (row, position) states, edits them all with a few batched ops and
 * scatters them back into the hidden states, in place. Work is proportional to intervened positions x rank x
 * hidden, independent of prompt length.
 *
 * <p>Every type is applied in the packed form {@code h' = h + A^T (act(W h + b) - m (A h) - e)} (see
 * {@link PackedIntervention}) with per-entry parameters gathered from one stack per layer whose ranks are
 * zero-padded to the largest, which keeps the arithmetic exact. When one bundle applies several interventions to
 * the same (row, position) at a layer, they run in bundle order, each on the previous one's output, as pyvene's
 * hooks do.
 *
 * <p>A row may compose several bundles, each with a scale: at every layer their interventions run in the row's
 * listed order (then bundle order), each on the previous one's output, as {@code h + s * (edit(h) - h)}. An entry
 * of scale 0 is left out of the plan, so it changes nothing, bit for bit.
 */
public final class InterventionPlan implements BlockHook {

    /**
     * One row of the batch.
     *
     * @param bundles      its bundles in the order they apply, each with its scale; empty for the base model
     * @param promptLength its real prompt tokens (BOS included); positions at and past it are padding
     */
    public record Row(List<ScaledBundle> bundles, int promptLength) {
        public Row {
            bundles = bundles == null ? List.of() : List.copyOf(bundles);
            if (promptLength < 0) {
                throw new IllegalArgumentException("negative prompt length " + promptLength);
            }
        }

        /** A row with one bundle at scale 1, or the base model when {@code bundle} is null. */
        public Row(LoadedBundle bundle, int promptLength) {
            this(bundle == null ? List.of() : List.of(new ScaledBundle(bundle, 1f)), promptLength);
        }
    }

    /** One intervened (row, position) at a layer, and which slot of the layer's parameter stack edits it. */
    private record Entry(int row, int position, int slot, Activation act, ReftType type, float scale) {
    }

    /**
     * Entries whose (row, position) pairs are distinct, so one gather-edit-scatter handles them; {@code scales}
     * is null when every entry has scale 1 (the usual case, which then skips the multiply).
     */
    private record Round(long[] rows, long[] positions, long[] slots, Activation[] acts, ReftType[] types,
            float[] scales) {

        /** The entries of rows with a pass row ({@code passRow[row]} &gt;= 0) at positions in [start, end), moved. */
        Round within(int[] passRow, int start, int end) {
            int[] keep = IntStream.range(0, rows.length).filter(k -> passRow[(int) rows[k]] >= 0
                    && positions[k] >= start && positions[k] < end).toArray();
            if (keep.length == 0) {
                return null;
            }
            return new Round(
                    Arrays.stream(keep).mapToLong(k -> passRow[(int) rows[k]]).toArray(),
                    Arrays.stream(keep).mapToLong(k -> positions[k] - start).toArray(),
                    Arrays.stream(keep).mapToLong(k -> slots[k]).toArray(),
                    Arrays.stream(keep).mapToObj(k -> acts[k]).toArray(Activation[]::new),
                    Arrays.stream(keep).mapToObj(k -> types[k]).toArray(ReftType[]::new),
                    scales == null ? null : toFloats(Arrays.stream(keep).mapToDouble(k -> scales[k]).toArray()));
        }

        private static float[] toFloats(double[] v) {
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                f[i] = (float) v[i];
            }
            return f;
        }
    }

    /** A bundle's layer stack placed at slots [offset, offset + k) of the layer's stack. */
    private record Placement(LoadedBundle bundle, int offset) {
    }

    private record LayerPlan(List<Placement> placements, int slots, int rank, List<Round> rounds) {
    }

    private final int batchSize;
    private final int hiddenSize;
    private final int longestPrompt;
    private final Map<Integer, LayerPlan> layers;
    private final EditNormListener listener;
    private final PackedSlices slices;
    private final int lastLayer;
    // Relative edit norms per round, kept on the device until the last intervened layer reports them.
    private final List<NDArray> pendingNorms = new ArrayList<>();
    private final List<Integer> pendingLayers = new ArrayList<>();
    private final List<ReftType[]> pendingTypes = new ArrayList<>();

    /** Where A, W, b, e and m sit in a packed row of width 2d+3, built once instead of parsed per call. */
    private record PackedSlices(NDIndex a, NDIndex w, NDIndex b, NDIndex e, NDIndex m) {
        static PackedSlices of(int d) {
            return new PackedSlices(part(0, d), part(d, 2L * d), part(2L * d, 2L * d + 1),
                    part(2L * d + 1, 2L * d + 2), part(2L * d + 2, 2L * d + 3));
        }

        private static NDIndex part(long from, long to) {
            NDIndex index = new NDIndex().addAllDim().addAllDim();
            // A single column is taken as an index (dropping the axis), a range as a slice.
            return to - from == 1 ? index.addIndices(from) : index.addSliceDim(from, to);
        }
    }

    public InterventionPlan(List<Row> rows) {
        this(rows, null);
    }

    /**
     * @param rows     the batch's rows, in batch order
     * @param listener receives relative edit norms, or null to skip computing them
     */
    public InterventionPlan(List<Row> rows, EditNormListener listener) {
        this.batchSize = rows.size();
        this.listener = listener;
        int hidden = -1;
        int longest = 0;
        Set<Integer> touched = new TreeSet<>();
        for (Row row : rows) {
            longest = Math.max(longest, row.promptLength());
            for (ScaledBundle sb : row.bundles()) {
                int d = sb.bundle().bundle().hiddenSize();
                if (hidden >= 0 && hidden != d) {
                    throw new IllegalArgumentException("bundles for hidden sizes " + hidden + " and " + d
                            + " in one batch");
                }
                hidden = d;
                if (sb.scale() != 0f) {
                    sb.bundle().bundle().interventions().forEach(iv -> touched.add(iv.layer()));
                }
            }
        }
        this.hiddenSize = hidden;
        this.slices = PackedSlices.of(Math.max(hidden, 0));
        this.longestPrompt = longest;
        TreeMap<Integer, LayerPlan> plans = new TreeMap<>();
        for (int layer : touched) {
            LayerPlan plan = planLayer(rows, layer);
            if (plan != null) {
                plans.put(layer, plan);
            }
        }
        this.layers = Collections.unmodifiableMap(plans);
        this.lastLayer = plans.isEmpty() ? -1 : plans.lastKey();
    }

    private InterventionPlan(int batchSize, int hiddenSize, int longestPrompt, Map<Integer, LayerPlan> layers,
            EditNormListener listener) {
        this.batchSize = batchSize;
        this.hiddenSize = hiddenSize;
        this.slices = PackedSlices.of(Math.max(hiddenSize, 0));
        this.longestPrompt = longestPrompt;
        this.layers = layers;
        this.listener = listener;
        this.lastLayer = layers.isEmpty() ? -1 : Collections.max(layers.keySet());
    }

    /**
     * The plan of one pass of a chunked prefill: the pass's row r is this plan's row {@code rows[r]}, its position t
     * the prompt's {@code start + t}; the edits are this plan's at positions in [start, end), in the same rounds.
     * Every edit is one (row, position)'s own, so the passes together edit what this plan would in one.
     */
    @Override
    public InterventionPlan pass(int[] rows, int start, int end) {
        int[] passRow = new int[batchSize];
        Arrays.fill(passRow, -1);
        for (int r = 0; r < rows.length; r++) {
            passRow[rows[r]] = r;
        }
        TreeMap<Integer, LayerPlan> plans = new TreeMap<>();
        for (Map.Entry<Integer, LayerPlan> e : layers.entrySet()) {
            LayerPlan plan = e.getValue();
            List<Round> kept = new ArrayList<>();
            for (Round round : plan.rounds()) {
                Round cut = round.within(passRow, start, end);
                if (cut != null) {
                    kept.add(cut);
                }
            }
            if (!kept.isEmpty()) {
                plans.put(e.getKey(), new LayerPlan(plan.placements(), plan.slots(), plan.rank(), kept));
            }
        }
        return new InterventionPlan(rows.length, hiddenSize, Math.max(0, Math.min(longestPrompt, end) - start),
                Collections.unmodifiableMap(plans), listener);
    }

    private static LayerPlan planLayer(List<Row> rows, int layer) {
        Map<LoadedBundle, Integer> offsets = new IdentityHashMap<>();
        List<Placement> placements = new ArrayList<>();
        int slots = 0;
        int rank = 0;
        List<List<Entry>> rounds = new ArrayList<>();
        Map<Long, Integer> seen = new HashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            for (ScaledBundle sb : rows.get(i).bundles()) {
                LoadedBundle b = sb.bundle();
                LoadedBundle.LayerParams params = b.layer(layer);
                if (params == null || sb.scale() == 0f) {
                    continue;
                }
                Integer offset = offsets.get(b);
                if (offset == null) {
                    offset = slots;
                    offsets.put(b, offset);
                    placements.add(new Placement(b, offset));
                    slots += params.interventions().length;
                    rank = Math.max(rank, params.rank());
                }
                ReftBundle bundle = b.bundle();
                for (int j = 0; j < params.interventions().length; j++) {
                    Intervention iv = bundle.interventions().get(params.interventions()[j]);
                    for (int pos : bundle.positions().positions(iv.applyTo(), rows.get(i).promptLength())) {
                        // The k-th edit of a (row, position) goes to round k: rounds run in order, so edits
                        // compose in the row's listed order.
                        int round = seen.merge(((long) i << 32) | pos, 1, Integer::sum) - 1;
                        while (rounds.size() <= round) {
                            rounds.add(new ArrayList<>());
                        }
                        rounds.get(round).add(new Entry(i, pos, offset + j, iv.act(), iv.type(), sb.scale()));
                    }
                }
            }
        }
        if (rounds.isEmpty()) {
            return null;
        }
        List<Round> built = new ArrayList<>();
        for (List<Entry> entries : rounds) {
            float[] scales = null;
            if (entries.stream().anyMatch(e -> e.scale() != 1f)) {
                scales = new float[entries.size()];
                for (int k = 0; k < scales.length; k++) {
                    scales[k] = entries.get(k).scale();
                }
            }
            built.add(new Round(
                    entries.stream().mapToLong(Entry::row).toArray(),
                    entries.stream().mapToLong(Entry::position).toArray(),
                    entries.stream().mapToLong(Entry::slot).toArray(),
                    entries.stream().map(Entry::act).toArray(Activation[]::new),
                    entries.stream().map(Entry::type).toArray(ReftType[]::new),
                    scales));
        }
        return new LayerPlan(placements, slots, rank, built);
    }

    /** Whether no row is edited at any layer. */
    public boolean isEmpty() {
        return layers.isEmpty();
    }

    @Override
    public boolean touches(int layer) {
        return layers.containsKey(layer);
    }

    @Override
    public NDArray afterBlock(int layer, NDArray hidden) {
        LayerPlan plan = layers.get(layer);
        if (plan == null) {
            return hidden;
        }
        Shape shape = hidden.getShape();
        if (shape.dimension() != 3 || shape.get(0) != batchSize || shape.get(2) != hiddenSize
                || shape.get(1) < longestPrompt) {
            throw new IllegalArgumentException("hidden states " + shape + " do not fit a plan for " + batchSize
                    + " rows of up to " + longestPrompt + " tokens and hidden size " + hiddenSize);
        }
        // Edited in place: the hidden states belong to the hook (BlockHook#afterBlock), so the batch is not copied.
        try (NDManager sub = hidden.getManager().newSubManager()) {
            NDArray stack = stack(layer, plan, hidden, sub);
            for (Round round : plan.rounds()) {
                applyRound(layer, round, stack, hidden, sub, hidden.getDataType());
            }
        }
        if (listener != null && layer == lastLayer) {
            reportEditNorms();
        }
        return hidden;
    }

    /**
     * Hands the relative edit norms of every layer to the listener with one device-to-host copy per prefill (at
     * the last intervened layer) rather than one per layer.
     */
    private void reportEditNorms() {
        if (pendingNorms.isEmpty()) {
            return;
        }
        NDArray joined = pendingNorms.size() == 1 ? pendingNorms.get(0) : NDArrays.concat(new NDList(pendingNorms));
        float[] rel = joined.toFloatArray();
        joined.close();
        pendingNorms.forEach(NDArray::close);
        int k = 0;
        for (int i = 0; i < pendingLayers.size(); i++) {
            for (ReftType type : pendingTypes.get(i)) {
                listener.onEdit(type.wireName(), pendingLayers.get(i), rel[k++]);
            }
        }
        pendingNorms.clear();
        pendingLayers.clear();
        pendingTypes.clear();
    }

    /**
     * The layer's parameter stack [slots, rank, 2d+3]: one concatenation when every bundle has the layer's rank
     * (the usual case), otherwise zero-padded slot by slot.
     */
    private static NDArray stack(int layer, LayerPlan plan, NDArray hidden, NDManager sub) {
        NDList same = new NDList();
        for (Placement pl : plan.placements()) {
            if (!pl.bundle().device().equals(hidden.getDevice())) {
                throw new IllegalArgumentException("bundle on " + pl.bundle().device() + ", hidden states on "
                        + hidden.getDevice());
            }
            LoadedBundle.LayerParams params = pl.bundle().layer(layer);
            if (params.rank() == plan.rank()) {
                same.add(params.packed());
            }
        }
        if (same.size() == plan.placements().size()) {
            NDArray stacked = same.size() == 1 ? same.get(0).duplicate() : NDArrays.concat(same, 0);
            stacked.attach(sub);
            return stacked;
        }
        int width = (int) plan.placements().get(0).bundle().layer(layer).packed().getShape().get(2);
        NDArray stack = sub.zeros(new Shape(plan.slots(), plan.rank(), width), DataType.FLOAT32);
        for (Placement pl : plan.placements()) {
            LoadedBundle.LayerParams params = pl.bundle().layer(layer);
            stack.set(new NDIndex().addSliceDim(pl.offset(), pl.offset() + params.interventions().length)
                    .addSliceDim(0, params.rank()).addAllDim(), params.packed());
        }
        return stack;
    }

    private void applyRound(int layer, Round round, NDArray stack, NDArray out, NDManager sub, DataType dtype) {
        int d = hiddenSize;
        NDIndex at = new NDIndex("{}, {}", sub.create(round.rows()), sub.create(round.positions()));
        NDArray h = out.get(sub, at).toType(DataType.FLOAT32, false); // [n, d], computed in fp32
        NDArray params = stack.get(new NDIndex("{}", sub.create(round.slots()))); // [n, r, 2d+3]
        NDArray a = params.get(slices.a());
        NDArray w = params.get(slices.w());
        NDArray b = params.get(slices.b());
        NDArray e = params.get(slices.e());
        NDArray m = params.get(slices.m());
        NDArray hv = h.expandDims(2); // [n, d, 1]
        NDArray u = w.matMul(hv).squeeze(2).add(b); // W h + b, [n, r]
        NDArray z = activate(u, round.acts(), sub).sub(m.mul(a.matMul(hv).squeeze(2))).sub(e);
        NDArray delta = a.transpose(0, 2, 1).matMul(z.expandDims(2)).squeeze(2); // A^T z, [n, d]
        if (round.scales() != null) {
            // edit(h) - h is exactly delta, so h + s * (edit(h) - h) = h + s * delta.
            delta = delta.mul(sub.create(round.scales(), new Shape(round.scales().length, 1)));
        }
        out.set(at, h.add(delta).toType(dtype, false));
        if (listener != null) {
            NDArray rel = delta.norm(2, new int[] {1}, false).div(h.norm(2, new int[] {1}, false));
            rel.attach(out.getManager());   // outlives this layer's sub-manager until the report
            pendingNorms.add(rel);
            pendingLayers.add(layer);
            pendingTypes.add(round.types());
        }
    }

    /** act(u) row by row: one op when the round uses one activation, else a 0/1 mask per activation used. */
    private static NDArray activate(NDArray u, Activation[] acts, NDManager sub) {
        Set<Activation> used = new LinkedHashSet<>(List.of(acts));
        if (used.size() == 1) {
            return acts[0].apply(u);
        }
        NDArray sum = null;
        for (Activation act : used) {
            float[] mask = new float[acts.length];
            for (int k = 0; k < acts.length; k++) {
                mask[k] = acts[k] == act ? 1f : 0f;
            }
            NDArray part = act.apply(u).mul(sub.create(mask, new Shape(acts.length, 1)));
            sum = sum == null ? part : sum.add(part);
        }
        return sum;
    }
}

package dev.reftserver.training;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.model.ops.Constants;
import dev.reftserver.model.ops.Views;
import dev.reftserver.tokenizer.TextTokenizer;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Trains a bundle's interventions on the frozen base model, one update per {@link #step()}: pyreft's protocol
 * (ReftTrainer's loss over a batch, HF Trainer's clipping and linear schedule, torch's AdamW). The forward is the
 * model's differentiable one ({@link TransformerLM#training()}) on the model's own weights; gradients reach only
 * the intervention parameters. Not thread-safe: one thread drives a run (autograd records per thread), and DJL
 * allows one open {@code GradientCollector} per process, so runs must step one at a time ({@link FineTuningJobs}
 * runs them on a single worker thread).
 */
public final class TrainingRun implements AutoCloseable {

    /**
     * What one update did.
     *
     * @param accuracy the batch's mean token accuracy before the update: the share of its completion tokens that are
     *                 the model's most likely next token (argmax of the logits at t is the label at t + 1)
     */
    public record StepReport(int step, double loss, double accuracy, double learningRate, double gradNorm) {
    }

    /**
     * The loss of one batch, its mean token accuracy (as {@link StepReport#accuracy}) and, when asked for, each
     * intervention's gradients.
     */
    record Evaluation(double loss, double accuracy, List<List<float[]>> gradients) {
    }

    private final TransformerLM model;
    private final BundleContents init;
    private final List<TrainingExample> examples;
    private final TrainingSettings settings;
    private final List<TrainableIntervention> interventions = new ArrayList<>();
    private final AdamW optimizer;
    private final NDManager manager;
    private final int hidden;
    /** Where the interventions start: blocks before it (and it, before its edit) see only frozen weights. */
    private final int firstLayer;
    /** The residual stream after block {@link #firstLayer} per batch, which no update changes. */
    private final Map<List<TrainingExample>, NDArray> frozenPrefix = new HashMap<>();
    private long frozenPrefixBytes;
    private int done;
    private long lastBatchTokens;

    TrainingRun(TransformerLM model, BundleContents init, List<TrainingExample> examples, TrainingSettings settings) {
        if (model.dtype() != DataType.FLOAT32) {
            throw new IllegalArgumentException("training needs a float32 model, not " + model.dtype());
        }
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("no training examples");
        }
        this.model = model;
        this.init = init;
        this.examples = List.copyOf(examples);
        this.settings = settings;
        this.hidden = model.config().hiddenSize();
        for (BundleContents.Entry e : init.interventions()) {
            interventions.add(new TrainableIntervention(e, hidden));
        }
        this.optimizer = new AdamW(settings.weightDecay(), settings.maxGradNorm());
        this.manager = NDManager.newBaseManager(model.device());
        this.firstLayer = interventions.stream().mapToInt(TrainableIntervention::layer).min().orElseThrow();
    }

    /** Budget for cached frozen prefixes; a batch beyond it is run from the embeddings every time. */
    static final long FROZEN_PREFIX_BUDGET = 256L << 20;

    /**
     * @param examples (prompt, completion) pairs, tokenized as {@link TrainingExample#of}
     * @throws IllegalArgumentException if an example has no completion token or is longer than the model's context
     */
    public static TrainingRun start(TransformerLM model, TextTokenizer tokenizer, BundleContents init,
            List<String[]> examples, TrainingSettings settings) {
        List<TrainingExample> tokenized = new ArrayList<>();
        for (String[] e : examples) {
            tokenized.add(TrainingExample.of(tokenizer, e[0], e[1]));
        }
        return start(model, init, tokenized, settings);
    }

    /**
     * @param examples tokenized examples; an error names one by its 1-based place in this list
     * @throws IllegalArgumentException if an example has no completion token or is longer than the model's context
     */
    static TrainingRun start(TransformerLM model, BundleContents init, List<TrainingExample> examples,
            TrainingSettings settings) {
        check(model, examples);
        return new TrainingRun(model, init, examples, settings);
    }

    /**
     * @throws IllegalArgumentException if an example has no completion token or is longer than the model's
     *                                  context, naming it by its 1-based place in {@code examples}
     */
    static void check(TransformerLM model, List<TrainingExample> examples) {
        for (int i = 0; i < examples.size(); i++) {
            TrainingExample ex = examples.get(i);
            if (ex.labelTokens() == 0) {
                throw new IllegalArgumentException("example " + (i + 1) + " has no completion tokens");
            }
            if (ex.inputIds().length > model.config().maxPositions()) {
                throw new IllegalArgumentException("example " + (i + 1) + " has " + ex.inputIds().length
                        + " tokens, more than the model's context of " + model.config().maxPositions());
            }
        }
    }

    public int stepsDone() {
        return done;
    }

    public boolean finished() {
        return done >= settings.steps();
    }

    /** The updates the run takes in all. */
    public int totalSteps() {
        return settings.steps();
    }

    /** Tokens (prompt and completion) the last update trained on. */
    public long lastBatchTokens() {
        return lastBatchTokens;
    }

    public TrainingSettings settings() {
        return settings;
    }

    /** One update: loss and gradients on the next batch, clipping, AdamW at the schedule's learning rate. */
    public StepReport step() {
        if (finished()) {
            throw new IllegalStateException("all " + settings.steps() + " steps are done");
        }
        List<TrainingExample> batch = batch(done);
        Evaluation eval = evaluate(batch, true);
        lastBatchTokens = batch.stream().mapToLong(ex -> ex.inputIds().length).sum();
        List<Parameter> params = allParameters();
        List<float[]> grads = new ArrayList<>();
        for (int j = 0; j < interventions.size(); j++) {
            grads.addAll(eval.gradients().get(j));
        }
        requireFinite(done + 1, eval.loss(), grads);
        int k = ++done;
        double lr = settings.learningRate(k);
        float norm = optimizer.step(params, grads, lr);
        return new StepReport(k, eval.loss(), eval.accuracy(), lr, norm);
    }

    /**
     * Stops a run whose loss or gradients are not finite before the update writes them into the parameters: one
     * NaN would spread to every value, and the run would only fail at its end, on a bundle of NaN.
     *
     * @throws IllegalStateException naming the update and what was not finite
     */
    static void requireFinite(int update, double loss, List<float[]> gradients) {
        int bad = 0;
        for (float[] g : gradients) {
            for (float v : g) {
                if (!Float.isFinite(v)) {
                    bad++;
                }
            }
        }
        if (!Double.isFinite(loss) || bad > 0) {
            throw new IllegalStateException("update " + update + " stopped before changing the intervention: loss "
                    + loss + ", " + bad + " gradient values not finite (a lower learning_rate or max_grad_norm can"
                    + " help)");
        }
    }

    private static final int STATE_MAGIC = 0x52465453; // "RFTS"

    /**
     * Everything later updates depend on: the updates done, AdamW's step count and every parameter's value and
     * moments, in float32 as they are. A run restored from it ({@link #restore}) takes the same updates as this one
     * would have, bit for bit: batches depend only on the update's number and the seed.
     */
    public byte[] state() {
        List<Parameter> params = allParameters();
        long floats = 0;
        for (Parameter p : params) {
            floats += 3L * p.value().length;
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(16 + 4L * params.size() + 4 * floats));
        b.putInt(STATE_MAGIC).putInt(done).putInt(optimizer.steps()).putInt(params.size());
        for (Parameter p : params) {
            b.putInt(p.value().length);
            for (float[] a : List.of(p.value(), p.m(), p.v())) {
                for (float x : a) {
                    b.putFloat(x);
                }
            }
        }
        return b.array();
    }

    /**
     * Continues from a {@link #state} of a run with the same interventions, examples and settings.
     *
     * @throws IllegalArgumentException if the state does not fit this run's parameters
     */
    public void restore(byte[] state) {
        List<Parameter> params = allParameters();
        ByteBuffer b = ByteBuffer.wrap(state);
        if (state.length < 16 || b.getInt() != STATE_MAGIC) {
            throw new IllegalArgumentException("not a training state");
        }
        int steps = b.getInt();
        int adamSteps = b.getInt();
        if (b.getInt() != params.size() || steps < 0 || steps > settings.steps()) {
            throw new IllegalArgumentException("the training state is of another run");
        }
        for (Parameter p : params) {
            if (b.remaining() < 4 || b.getInt() != p.value().length || b.remaining() < 12L * p.value().length) {
                throw new IllegalArgumentException("the training state is of another run");
            }
            for (float[] a : List.of(p.value(), p.m(), p.v())) {
                for (int i = 0; i < a.length; i++) {
                    a[i] = b.getFloat();
                }
            }
        }
        done = steps;
        optimizer.resumeAt(adamSteps);
    }

    private List<Parameter> allParameters() {
        List<Parameter> params = new ArrayList<>();
        for (TrainableIntervention iv : interventions) {
            params.addAll(iv.parameters());
        }
        return params;
    }

    /** The loss at the current weights on the batch the next update would use (on the first after the last). */
    public double loss() {
        return evaluate(batch(finished() ? 0 : done), false).loss();
    }

    /**
     * The loss over held-out examples at the current weights (OpenAI's full validation loss), evaluated a batch at
     * a time so that the caller can share the device and stop between batches: the completion tokens' mean
     * cross-entropy, each token weighted alike, as if all the examples were one batch.
     */
    final class Validation {

        private final List<TrainingExample> examples;
        private int next;
        private double weightedLoss;
        private double weightedAccuracy;
        private long tokens;

        private Validation(List<TrainingExample> examples) {
            this.examples = examples;
        }

        public boolean done() {
            return next >= examples.size();
        }

        /** Evaluates the next batch (of the run's batch size, in file order). */
        public void next() {
            int size = Math.min(settings.batchSize(), examples.size());
            List<TrainingExample> batch = examples.subList(next, Math.min(examples.size(), next + size));
            long m = batch.stream().mapToLong(TrainingExample::labelTokens).sum();
            Evaluation eval = evaluate(batch, false);
            weightedLoss += eval.loss() * m;
            weightedAccuracy += eval.accuracy() * m;
            tokens += m;
            next += batch.size();
        }

        /** The loss over the examples evaluated so far (all of them once {@link #done}). */
        public double loss() {
            return weightedLoss / tokens;
        }

        /** The mean token accuracy over the examples evaluated so far, each completion token weighted alike. */
        public double accuracy() {
            return weightedAccuracy / tokens;
        }
    }

    /**
     * The held-out examples update {@code step} (1-based) is scored on, as OpenAI scores a batch of the validation
     * file at each update: the examples in file order, a batch of {@code batchSize} per update, from the first batch
     * again after the last (which may be shorter).
     */
    static <T> List<T> validationBatch(List<T> examples, int batchSize, int step) {
        int size = Math.min(batchSize, examples.size());
        int batches = (examples.size() + size - 1) / size;
        int from = ((step - 1) % batches) * size;
        return examples.subList(from, Math.min(examples.size(), from + size));
    }

    /** A validation of {@code examples} (checked as {@link #check} does) at the weights it is evaluated at. */
    Validation validation(List<TrainingExample> examples) {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("no validation examples");
        }
        return new Validation(List.copyOf(examples));
    }

    /** Updates in one pass over the training examples. */
    public int stepsPerEpoch() {
        int size = Math.min(settings.batchSize(), examples.size());
        return (examples.size() + size - 1) / size;
    }

    /** The bundle with the current values: same positions and layout as the initial one. */
    public BundleContents bundle() {
        List<BundleContents.Entry> entries = new ArrayList<>();
        for (TrainableIntervention iv : interventions) {
            entries.add(iv.toEntry(manager));
        }
        return init.withInterventions(entries);
    }

    List<TrainingExample> examples() {
        return examples;
    }

    List<TrainableIntervention> interventions() {
        return interventions;
    }

    NDManager manager() {
        return manager;
    }

    /** The examples of update {@code index} (0-based): epochs in file order, or shuffled per epoch by the seed. */
    List<TrainingExample> batch(int index) {
        int n = examples.size();
        int size = Math.min(settings.batchSize(), n);
        int perEpoch = stepsPerEpoch();
        int epoch = index / perEpoch;
        int start = (index % perEpoch) * size;
        List<TrainingExample> order = examples;
        if (settings.shuffle() && perEpoch > 1) {
            List<TrainingExample> shuffled = new ArrayList<>(examples);
            Collections.shuffle(shuffled, new Random(settings.seed() * 1_000_003L + epoch));
            order = shuffled;
        }
        return order.subList(start, Math.min(n, start + size));
    }

    /**
     * The mean cross-entropy over the batch's completion tokens (HF's causal-LM loss: logits at t predict the label
     * at t + 1, token-weighted over the whole batch), with every intervention editing its prompt positions.
     */
    Evaluation evaluate(List<TrainingExample> batch, boolean withGradients) {
        int n = batch.size();
        int tokens = 0;
        for (TrainingExample ex : batch) {
            tokens = Math.max(tokens, ex.inputIds().length);
        }
        int[][] rows = new int[n][];
        List<Long> logitAt = new ArrayList<>();
        List<Long> targets = new ArrayList<>();
        long[][] edited = new long[interventions.size()][];
        for (int j = 0; j < interventions.size(); j++) {
            List<Long> at = new ArrayList<>();
            TrainableIntervention iv = interventions.get(j);
            for (int i = 0; i < n; i++) {
                for (int p : init.positions().positions(iv.entry().applyTo(), batch.get(i).promptLength())) {
                    at.add((long) i * tokens + p);
                }
            }
            edited[j] = at.stream().mapToLong(Long::longValue).toArray();
        }
        for (int i = 0; i < n; i++) {
            TrainingExample ex = batch.get(i);
            rows[i] = ex.inputIds();
            int[] labels = ex.labels();
            for (int t = 0; t + 1 < labels.length; t++) {
                if (labels[t + 1] != TrainingExample.IGNORE) {
                    logitAt.add((long) i * tokens + t);
                    targets.add((long) labels[t + 1]);
                }
            }
        }
        try (NDManager step = manager.newSubManager()) {
            NDArray prefix = prefix(batch, rows, step);
            return evaluate(step, prefix, n, tokens, edited, logitAt, targets, withGradients);
        }
    }

    /**
     * The mean negative log-likelihood of {@code target} [m, 1] under {@code logits} [m, vocab]; its divisor is an
     * array of {@code step}, which the backward reads ({@link Constants}).
     */
    static NDArray loss(NDManager step, NDArray logits, NDArray target) {
        long m = logits.getShape().get(0);
        return logits.logSoftmax(-1).gather(target, 1).sum().neg().div(Constants.of(step, (float) m));
    }

    private Evaluation evaluate(NDManager step, NDArray prefix, int n, int tokens, long[][] edited,
            List<Long> logitAt, List<Long> targets, boolean withGradients) {
        try (GradientCollector collector = withGradients ? Engine.getInstance().newGradientCollector() : null) {
            List<TrainableIntervention.Live> live = new ArrayList<>();
            for (TrainableIntervention iv : interventions) {
                live.add(iv.attach(step));
            }
            int t = tokens;
            BlockHook hook = new BlockHook() {
                @Override
                public NDArray afterBlock(int layer, NDArray hiddenStates) {
                    NDArray flat = hiddenStates.reshape((long) n * t, hidden);
                    for (int j = 0; j < interventions.size(); j++) {
                        if (interventions.get(j).layer() != layer || edited[j].length == 0) {
                            continue;
                        }
                        long[] at = edited[j];
                        NDArray rowsAt = flat.get(new NDIndex("{}", step.create(at)));
                        NDArray change = live.get(j).change(rowsAt);
                        // Scatter by a one-hot matrix: a sum of one product with 1 and zeros, so exact, and
                        // differentiable without an in-place write.
                        float[] scatter = new float[n * t * at.length];
                        for (int q = 0; q < at.length; q++) {
                            scatter[(int) at[q] * at.length + q] = 1f;
                        }
                        flat = flat.add(step.create(scatter, new Shape((long) n * t, at.length)).matMul(change));
                    }
                    return flat.reshape(n, t, hidden);
                }

                @Override
                public boolean touches(int layer) {
                    return interventions.stream().anyMatch(iv -> iv.layer() == layer);
                }
            };
            // A view owned by this step, so the ops on it (and their results) are freed with the step.
            NDArray x = hook.afterBlock(firstLayer, Views.slice(step, prefix, 0, 0, Views.TO_END));
            long[] positions = logitAt.stream().mapToLong(Long::longValue).toArray();
            NDArray logits = model.training().logits(step, x, firstLayer + 1, hook, positions);
            NDArray target = step.create(targets.stream().mapToLong(Long::longValue).toArray(),
                    new Shape(positions.length, 1));
            NDArray loss = loss(step, logits, target);
            double value = loss.getFloat();
            double accuracy = (double) logits.argMax(1).eq(target.reshape(-1)).sum().getLong() / positions.length;
            List<List<float[]>> grads = new ArrayList<>();
            if (withGradients) {
                collector.backward(loss);
                for (TrainableIntervention.Live l : live) {
                    grads.add(l.gradients());
                }
            }
            return new Evaluation(value, accuracy, grads);
        }
    }

    /**
     * The residual stream after block {@link #firstLayer} (before its edit) for this batch: from the cache, or
     * computed once (outside any gradient recording) and kept while the budget allows.
     */
    private NDArray prefix(List<TrainingExample> batch, int[][] rows, NDManager step) {
        NDArray cached = frozenPrefix.get(batch);
        if (cached != null) {
            return cached;
        }
        int tokens = 0;
        for (int[] row : rows) {
            tokens = Math.max(tokens, row.length);
        }
        long bytes = (long) rows.length * tokens * hidden * Float.BYTES;
        if (frozenPrefixBytes + bytes > FROZEN_PREFIX_BUDGET) {
            return model.training().hidden(step, rows, firstLayer + 1);
        }
        // Its own manager: the intermediates go with it, only the result stays for later steps.
        NDArray x;
        try (NDManager scratch = manager.newSubManager()) {
            x = model.training().hidden(scratch, rows, firstLayer + 1);
            x.attach(manager);
        }
        frozenPrefix.put(List.copyOf(batch), x);
        frozenPrefixBytes += bytes;
        return x;
    }

    @Override
    public void close() {
        manager.close();
    }
}

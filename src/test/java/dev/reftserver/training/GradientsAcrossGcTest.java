package dev.reftserver.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.reftserver.intervention.BundleContents;
import dev.reftserver.intervention.PositionSpec;
import dev.reftserver.model.BlockHook;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A garbage collection between a training step's forward and its backward must not change the gradients. DJL's
 * scalar ops ({@code pow(Number)} and the like) hand libtorch a scalar over a buffer that a GC frees while autograd
 * still holds it for the backward; the training forward and loss keep their constants as arrays of the step
 * ({@code Constants}). This runs the differentiable forward of stories15M with loreft and consreft interventions
 * (the rotation's parametrization included) and the training loss, collects garbage before the backward, and
 * compares the gradients with those of the same step without it.
 */
class GradientsAcrossGcTest {

    static TransformerLM model;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void aGcBeforeTheBackwardLeavesTheGradientsAsTheyWere() throws InterruptedException {
        List<float[]> quiet = gradients(false);
        List<float[]> collected = gradients(true);
        assertThat(collected).hasSameSizeAs(quiet);
        for (int i = 0; i < quiet.size(); i++) {
            for (float g : collected.get(i)) {
                assertThat(g).isFinite();
            }
            assertThat(collected.get(i)).containsExactly(quiet.get(i));
        }
    }

    /** The trap itself, so that this test keeps meaning something: DJL's scalar op loses its operand at a GC. */
    @Test
    void djlScalarOpsLoseTheirOperandAtAGc() throws InterruptedException {
        try (NDManager m = NDManager.newBaseManager(model.device());
                GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray x = m.create(new float[] {1f, 2f, 3f, 4f});
            x.setRequiresGradient(true);
            NDArray loss = x.pow(-0.5f).sum();
            collectGarbage();
            collector.backward(loss);
            float first = x.getGradient().toFloatArray()[0];
            assumeTrue(first != -0.5f, "the GC did not free DJL's scalar in time; the trap was not exercised");
        }
    }

    private static List<float[]> gradients(boolean gcBeforeBackward) throws InterruptedException {
        int hidden = model.config().hiddenSize();
        List<TrainableIntervention> interventions = new ArrayList<>();
        for (String type : List.of("loreft", "consreft")) {
            BundleContents init = InitialBundle.create(model.config().shape(), type, List.of(2), 4,
                    PositionSpec.parse("f1+l1"), false, 7);
            interventions.add(new TrainableIntervention(init.interventions().get(0), hidden));
        }
        int[][] rows = {{1, 403, 407, 263, 931, 29892, 727}, {1, 3118, 2462, 29892}};
        long[] positions = {1, 2, 3, 4, 5, 7, 8, 9};
        long[] targets = {407, 263, 931, 29892, 727, 2462, 29892, 727};
        try (NDManager step = NDManager.newBaseManager(model.device());
                GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            List<TrainableIntervention.Live> live = new ArrayList<>();
            for (TrainableIntervention iv : interventions) {
                live.add(iv.attach(step));
            }
            BlockHook hook = new BlockHook() {
                @Override
                public NDArray afterBlock(int layer, NDArray h) {
                    NDArray flat = h.reshape(-1, hidden);
                    for (TrainableIntervention.Live l : live) {
                        flat = flat.add(l.change(flat));
                    }
                    return flat.reshape(h.getShape());
                }

                @Override
                public boolean touches(int layer) {
                    return layer == 2;
                }
            };
            NDArray logits = model.training().logits(step, rows, hook, positions);
            NDArray loss = TrainingRun.loss(step, logits, step.create(targets, new Shape(targets.length, 1)));
            if (gcBeforeBackward) {
                collectGarbage();
            }
            collector.backward(loss);
            List<float[]> out = new ArrayList<>();
            for (TrainableIntervention.Live l : live) {
                out.addAll(l.gradients());
            }
            return out;
        }
    }

    /** Two full collections, each followed by time for the cleaner thread to free what they found. */
    private static void collectGarbage() throws InterruptedException {
        for (int i = 0; i < 2; i++) {
            System.gc();
            Thread.sleep(100);
        }
    }
}

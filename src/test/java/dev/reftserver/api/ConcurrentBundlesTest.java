package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.UploadFixtures;
import dev.reftserver.model.ModelShape;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * Sixteen concurrent requests for sixteen different bundles, mixed with base-model requests, each return exactly
 * the tokens that request gets when sent alone: one request's interventions never leak into another's rows.
 */
class ConcurrentBundlesTest extends ServingTestSupport {

    private static final ModelShape STORIES15M = new ModelShape(288, 6);
    private static final int BUNDLES = 16;
    private static final int BASE_REQUESTS = 8;
    private static final int MAX_TOKENS = 24;
    /** Large enough that the edit moves the greedy continuation; LoReFT replaces h's S-component by W h + b. */
    private static final double SCALE = 2.0;
    private static final List<String> PROMPTS = List.of(
            "Once upon a time, there was a little girl named Lily.",
            "Tom went to the park",
            "The cat sat on the warm mat and looked out of the window. It saw",
            "One day",
            "Sara and Ben were playing with their toys",
            "The sun was shining and the birds were singing in the trees, so the children",
            "Max wanted to build a tall tower",
            "In a small house near the river lived an old man and his wife. Every morning they");

    /** One request of the mix: the model it names, its prompt, and what X-Reft-Intervention must say. */
    record Call(String model, String prompt, String applied) {
    }

    @Autowired
    MeterRegistry meters;

    @Test
    void everyRequestOfAConcurrentMixGetsTheTextItGetsAlone() throws Exception {
        String key = newTenant("concurrent");
        List<Call> calls = new ArrayList<>();
        for (int i = 0; i < BUNDLES; i++) {
            String name = "mix-" + i;
            HttpResponse<String> up = http().upload(key, name + ".zip", UploadFixtures.nativeLoreft(1000 + i,
                    STORIES15M, fourLayers(i), 4, "f5+l5", SCALE), Map.of("name", name));
            assertThat(up.statusCode()).as(up.body()).isEqualTo(201);
            assertThat(json(up).get("interventions").asInt()).isEqualTo(8);
            calls.add(new Call(name, PROMPTS.get(i % PROMPTS.size()), name + "@1"));
        }
        for (int i = 0; i < BASE_REQUESTS; i++) {
            calls.add(new Call(BASE_MODEL, PROMPTS.get(i), "none"));
        }

        List<String> alone = new ArrayList<>();
        for (Call c : calls) {
            HttpResponse<String> r = complete(key, c.model(), c.prompt(), MAX_TOKENS);
            assertThat(r.headers().firstValue("X-Reft-Intervention")).contains(c.applied());
            alone.add(text(r));
        }
        // the bundles matter: each one's text differs from the base model's on the same prompt
        for (int i = 0; i < BUNDLES; i++) {
            String base = alone.get(BUNDLES + i % PROMPTS.size());
            assertThat(alone.get(i)).as("bundle %d vs base", i).isNotEqualTo(base);
        }

        // all at once, in a shuffled order, released together
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(7));
        CyclicBarrier start = new CyclicBarrier(calls.size());
        ExecutorService pool = Executors.newFixedThreadPool(calls.size());
        try {
            List<Future<HttpResponse<String>>> futures = new ArrayList<>(Collections.nCopies(calls.size(), null));
            for (int i : order) {
                Call c = calls.get(i);
                futures.set(i, pool.submit(() -> {
                    start.await(30, TimeUnit.SECONDS);
                    return client.send(completionRequest(key, c.model(), c.prompt(), MAX_TOKENS,
                            Duration.ofMinutes(2)), HttpResponse.BodyHandlers.ofString());
                }));
            }
            for (int i = 0; i < calls.size(); i++) {
                HttpResponse<String> r = futures.get(i).get(3, TimeUnit.MINUTES);
                Call c = calls.get(i);
                assertThat(r.headers().firstValue("X-Reft-Intervention")).as(c.model()).contains(c.applied());
                assertThat(text(r)).as("%s on '%s' among concurrent requests", c.model(), c.prompt())
                        .isEqualTo(alone.get(i));
            }
        } finally {
            pool.shutdownNow();
            assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        // the requests really shared decode steps (the engine's batch holds 16 rows)
        assertThat(meters.get("reft.batch.size").summary().max()).isGreaterThanOrEqualTo(8);
    }

    /** Four distinct layers of the six, a different set for most bundles. */
    private static List<Integer> fourLayers(int seed) {
        List<Integer> layers = new ArrayList<>(List.of(0, 1, 2, 3, 4, 5));
        Collections.shuffle(layers, new Random(seed));
        List<Integer> four = new ArrayList<>(layers.subList(0, 4));
        Collections.sort(four);
        return four;
    }
}

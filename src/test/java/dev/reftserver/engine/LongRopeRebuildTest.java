package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Phi-3 with longrope (reference/rope-scaling/phi3-longrope, original context 32) through the engine: the 13
 * prompts run as one batch, and each row whose sequence grows past 32 positions while it decodes has its cache
 * computed again with the long factors at that step, beside rows that do not, so every row's greedy ids are those
 * of its prompt alone in transformers.
 */
class LongRopeRebuildTest {

    @Test
    void rowsThatGrowPastTheOriginalContextAreRebuiltInsideARunningBatch() throws Exception {
        String dir = "reference/rope-scaling/phi3-longrope";
        JsonNode ref = JsonMapper.builder().build().readTree(ReferenceFiles.resource(dir + "/reference.json").toFile());
        EngineSettings settings = new EngineSettings(16, 512, 16 * 512, Duration.ofMinutes(2), Duration.ofSeconds(5));
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.resource(dir), "cpu", "float32")) {
            assertThat(model.rebuildAt()).isEqualTo(32);
            // The same vocabulary and ids as the stories15M tokenizer (the reference's prompts were made with it).
            TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
            long timeout = TimeUnit.MINUTES.toNanos(2);
            List<EchoBatchTest.Sink> sinks = new ArrayList<>();
            List<Generation> rows = new ArrayList<>();
            int crossing = 0;
            for (JsonNode p : ref.get("prompts")) {
                EchoBatchTest.Sink sink = new EchoBatchTest.Sink();
                sinks.add(sink);
                int[] ids = EchoBatchTest.ints(p.get("ids"));
                if (ids.length <= 32 && ids.length + 15 > 32) {
                    crossing++;
                }
                rows.add(new Generation("t", ids, SamplingParams.greedy(16), Penalties.NONE,
                        new LogprobsOptions(1, false), List.of(), null, sink, timeout));
            }
            assertThat(crossing).as("prompts that cross the original context while decoding").isGreaterThan(2);
            try (Scheduler scheduler = new Scheduler(model, tokenizer, settings, EngineMetrics.standalone(), null)) {
                scheduler.submit(rows);
                for (EchoBatchTest.Sink sink : sinks) {
                    sink.done.get(2, TimeUnit.MINUTES);
                }
            }
            for (int i = 0; i < sinks.size(); i++) {
                JsonNode p = ref.get("prompts").get(i);
                int[] want = EchoBatchTest.ints(p.get("greedy").get("ids"));
                assertThat(sinks.get(i).tokens.stream().mapToInt(TokenLogprobs::id).toArray())
                        .as(p.get("name").asText()).containsExactly(want);
            }
        }
    }
}

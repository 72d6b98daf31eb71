package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.config.EngineProperties;
import dev.reftserver.engine.ControllableModel;
import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import tools.jackson.databind.json.JsonMapper;

/**
 * A completion's bundle lease belongs to its rows: a client that leaves during prefill (the controller cancels the
 * call) does not release it; the engine does, once, when the last of the request's rows has finished.
 */
class CompletionLeaseTest {

    static TransformerLM base;
    static TextTokenizer tokenizer;
    static final JsonMapper JSON = JsonMapper.builder().build();

    @BeforeAll
    static void load() {
        base = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
        tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
    }

    @AfterAll
    static void close() {
        base.close();
    }

    static final class CountingLease implements AutoCloseable {
        final AtomicInteger closes = new AtomicInteger();

        @Override
        public void close() {
            closes.incrementAndGet();
        }
    }

    /** Two prompts, two samples each: four rows sharing one lease. */
    static CompletionRequest request(boolean stream) {
        return JSON.readValue("""
                {"model":"stories15M","prompt":["Once upon a time","The little dog"],"n":2,"max_tokens":8,
                 "temperature":0,"stream":%s}""".formatted(stream), CompletionRequest.class);
    }

    static Scheduler scheduler(ControllableModel model) {
        return new Scheduler(model, tokenizer, new EngineSettings(8, 16, 8 * 256, Duration.ofMinutes(1),
                Duration.ofSeconds(5)), EngineMetrics.standalone(), null);
    }

    static CompletionService service(Scheduler scheduler) {
        EngineProperties defaults = new Binder(new MapConfigurationPropertySource(Map.of()))
                .bindOrCreate("reft.engine", EngineProperties.class);
        return new CompletionService(scheduler, tokenizer, defaults);
    }

    @Test
    void aStreamWhoseClientLeftDuringPrefillReleasesTheLeaseOnlyWhenItsRowsFinish() throws Exception {
        ControllableModel model = new ControllableModel(base);
        try (Scheduler scheduler = scheduler(model)) {
            CountDownLatch gate = model.holdNextPrefill();
            CountingLease lease = new CountingLease();
            CompletionCall call = service(scheduler).start("acme", request(true), List.of(), lease, n -> { });
            assertThat(model.prefillEntered.await(30, TimeUnit.SECONDS)).isTrue();

            call.cancel(); // what the controller does when a write to the client fails
            assertThat(lease.closes).as("released under a running prefill").hasValue(0);

            gate.countDown();
            Object e;
            while ((e = call.events.poll(30, TimeUnit.SECONDS)) != CompletionCall.END) {
                assertThat(e).as("the stream ends").isNotNull();
            }
            assertThat(lease.closes).hasValue(1);
        }
    }

    @Test
    void aRequestWhoseRowsRunToTheirEndReleasesTheLeaseOnce() throws Exception {
        try (Scheduler scheduler = scheduler(new ControllableModel(base))) {
            CountingLease lease = new CountingLease();
            CompletionCall call = service(scheduler).start("acme", request(false), List.of(), lease, n -> { });
            CompletionResponse r = call.result.get(30, TimeUnit.SECONDS);
            assertThat(r.choices()).hasSize(4).allSatisfy(c -> assertThat(c.finishReason()).isEqualTo("length"));
            assertThat(lease.closes).hasValue(1);
        }
    }
}

package dev.reftserver.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.model.ReferenceFiles;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.health.contributor.Status;

/** The engine's lifecycle on the default model: warm-up, draining stop, and a restart that serves again. */
class EngineLifecycleTest {

    @Test
    void aRestartAfterStopIsReadyAndAcceptsTrafficAgain() {
        List<Object> published = new ArrayList<>();
        TextTokenizer tokenizer = TokenizerLoader.load(ReferenceFiles.stories15m());
        try (TransformerLM model = ModelLoader.load(ReferenceFiles.stories15m(), "cpu", "float32");
                Scheduler scheduler = new Scheduler(model, tokenizer, new EngineSettings(2, 4, 512,
                        Duration.ofMinutes(1), Duration.ofSeconds(5)), EngineMetrics.standalone(), null)) {
            EngineLifecycle lifecycle = new EngineLifecycle(scheduler, tokenizer, published::add);

            lifecycle.start();
            assertThat(lifecycle.health().getStatus()).isEqualTo(Status.UP);
            assertThat(published).as("at first start Spring Boot itself accepts traffic when ready").isEmpty();

            lifecycle.stop();
            assertThat(lifecycle.isRunning()).isFalse();
            assertThat(lifecycle.health().getStatus()).isEqualTo(Status.OUT_OF_SERVICE);

            lifecycle.start();
            assertThat(lifecycle.isRunning()).isTrue();
            assertThat(lifecycle.health().getStatus()).isEqualTo(Status.UP);
            assertThat(published).map(e -> ((AvailabilityChangeEvent<?>) e).getState().toString())
                    .containsExactly("REFUSING_TRAFFIC", "ACCEPTING_TRAFFIC");
        }
    }
}

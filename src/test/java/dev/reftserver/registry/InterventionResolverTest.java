package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InterventionResolverTest {

    @TempDir
    Path dir;
    EmbeddedStore store;
    InterventionResolver resolver;

    @BeforeEach
    void setUp() {
        store = new EmbeddedStore(dir);
        resolver = new InterventionResolver(store, "stories15M", new SplittableRandom(42));
        store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(2, 10));
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    @Test
    void resolvesTheBaseModelId() {
        Resolution r = resolver.resolve("acme", "stories15M", null, null);
        assertThat(r.appliedId()).isEqualTo("none");
        assertThat(r.isBase()).isTrue();
        assertThat(r.acquire(null)).isNull();
    }

    @Test
    void resolvesAnInterventionByNameToItsLatestVersionOrByNameAtVersion() {
        assertThat(resolver.resolve("acme", "sent", null, null).appliedId()).isEqualTo("sent@2");
        Resolution pinned = resolver.resolve("acme", "sent@1", null, null);
        assertThat(pinned.appliedId()).isEqualTo("sent@1");
        assertThat(pinned.key()).isEqualTo(new BundleKey("acme", "sent", 1));
    }

    @Test
    void anExplicitInterventionOverridesTheModel() {
        store.putTask("acme", "task", List.of(new Route("sent", 2, 1)));
        assertThat(resolver.resolve("acme", "task", "sent@1", null).appliedId()).isEqualTo("sent@1");
        assertThat(resolver.resolve("acme", "stories15M", "sent", null).appliedId()).isEqualTo("sent@2");
    }

    @Test
    void aTaskWinsOverAnInterventionOfTheSameName() {
        store.addVersion("acme", "other", TestBundles.SUMMARY, TestBundles.bytes(3, 10));
        store.putTask("acme", "sent", List.of(new Route("other", 1, 1)));
        Resolution r = resolver.resolve("acme", "sent", null, null);
        assertThat(r.appliedId()).isEqualTo("other@1");
        assertThat(r.task()).isEqualTo("sent");
    }

    @Test
    void anInterventionNamedLikeTheBaseModelWins() {
        store.addVersion("acme", "stories15M", TestBundles.SUMMARY, TestBundles.bytes(4, 10));
        assertThat(resolver.resolve("acme", "stories15M", null, null).appliedId()).isEqualTo("stories15M@1");
        assertThat(resolver.resolve("globex", "stories15M", null, null).appliedId()).isEqualTo("none");
    }

    @Test
    void anotherTenantsNamesAreNotFoundLikeUnknownOnes() {
        store.putTask("acme", "task", List.of(new Route("sent", 2, 1)));
        for (String model : List.of("sent", "sent@1", "task", "nothing", "bad@name@x")) {
            assertThatThrownBy(() -> resolver.resolve("globex", model, null, null))
                    .isInstanceOfSatisfying(ModelNotFoundException.class, e -> {
                        assertThat(e.param()).isEqualTo("model");
                        assertThat(e.code()).isEqualTo("model_not_found");
                        assertThat(e.getMessage()).isEqualTo("The model '" + model + "' does not exist");
                    });
        }
        assertThatThrownBy(() -> resolver.resolve("globex", "stories15M", "sent", null))
                .isInstanceOfSatisfying(ModelNotFoundException.class,
                        e -> assertThat(e.param()).isEqualTo("intervention"));
        assertThatThrownBy(() -> resolver.resolve("acme", "sent@3", null, null))
                .isInstanceOf(ModelNotFoundException.class);
    }

    @Test
    void splitsAWeightedTaskNinetyTenByStickyKey() {
        store.putTask("acme", "task", List.of(new Route("sent", 1, 90), new Route("sent", 2, 10)));
        int first = 0;
        for (int i = 0; i < 1000; i++) {
            if (resolver.resolve("acme", "task", null, "user-" + i).version() == 1) {
                first++;
            }
        }
        assertThat(first).isBetween(840, 960);
    }

    @Test
    void aStickyKeyAlwaysTakesTheSameRoute() {
        store.putTask("acme", "task", List.of(new Route("sent", 1, 50), new Route("sent", 2, 50)));
        for (int i = 0; i < 50; i++) {
            String key = "user-" + i;
            String first = resolver.resolve("acme", "task", null, key).appliedId();
            for (int j = 0; j < 5; j++) {
                assertThat(resolver.resolve("acme", "task", null, key).appliedId()).isEqualTo(first);
            }
        }
    }

    @Test
    void withoutAStickyKeyRoutesAtRandomByWeight() {
        store.putTask("acme", "task", List.of(new Route("sent", 1, 90), new Route("sent", 2, 10)));
        int first = 0;
        for (int i = 0; i < 1000; i++) {
            if (resolver.resolve("acme", "task", null, null).version() == 1) {
                first++;
            }
        }
        assertThat(first).isBetween(840, 960);
    }
}

package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PositionSpecTest {

    @Test
    void parsesTheThreePyreftForms() {
        assertThat(PositionSpec.parse("f3+l3")).isEqualTo(new PositionSpec(3, 3));
        assertThat(PositionSpec.parse("f5")).isEqualTo(new PositionSpec(5, 0));
        assertThat(PositionSpec.parse("l1")).isEqualTo(new PositionSpec(0, 1));
        assertThat(PositionSpec.parse("f2+l7").toString()).isEqualTo("f2+l7");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "x", "l3+f3", "f3+", "+l3", "f-1", "f0", "l0", "f0+l2", "f3 + l3", "F3", "f3+l3+l1",
            "f99999999", "first3"})
    void rejectsAnythingElseWithAClearMessage(String spec) {
        assertThatThrownBy(() -> PositionSpec.parse(spec))
                .isInstanceOf(BundleRejectedException.class)
                .hasMessageContaining("positions")
                .extracting(e -> ((BundleRejectedException) e).reason()).isEqualTo("positions");
    }

    @Test
    void clampsEachGroupToHalfThePrompt() {
        PositionSpec spec = PositionSpec.parse("f3+l3");
        assertThat(spec.firstPositions(1)).isEmpty();
        assertThat(spec.lastPositions(1)).isEmpty();
        assertThat(spec.firstPositions(4)).containsExactly(0, 1);
        assertThat(spec.lastPositions(4)).containsExactly(2, 3);
        assertThat(spec.firstPositions(5)).containsExactly(0, 1);
        assertThat(spec.lastPositions(5)).containsExactly(3, 4);
        assertThat(spec.positions(ApplyTo.ALL, 20)).containsExactly(0, 1, 2, 17, 18, 19);
        assertThat(PositionSpec.parse("l1").positions(ApplyTo.ALL, 2)).containsExactly(1);
        assertThat(PositionSpec.parse("f4").positions(ApplyTo.ALL, 3)).containsExactly(0);
    }
}

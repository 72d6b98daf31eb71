package dev.reftserver.intervention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ActivationTest {

    @Test
    void erfMatchesTabulatedValues() {
        // Abramowitz & Stegun table 7.1 / high-precision references
        assertThat(Activation.erf(0.0)).isEqualTo(0.0);
        assertThat(Activation.erf(0.5)).isCloseTo(0.5204998778130465, within(1e-15));
        assertThat(Activation.erf(1.0)).isCloseTo(0.8427007929497149, within(1e-15));
        assertThat(Activation.erf(-1.0)).isCloseTo(-0.8427007929497149, within(1e-15));
        assertThat(Activation.erf(2.0)).isCloseTo(0.9953222650189527, within(1e-15));
        assertThat(Activation.erf(2.5)).isCloseTo(0.9995930479825550, within(1e-15));
        assertThat(Activation.erf(3.0)).isCloseTo(0.9999779095030014, within(1e-15));
        assertThat(Activation.erf(4.0)).isCloseTo(0.9999999845827421, within(1e-15));
        assertThat(Activation.erf(7.0)).isEqualTo(1.0);
    }

    @Test
    void geluIsTheExactErfForm() {
        // torch.nn.functional.gelu(torch.tensor([1.0, -0.5], dtype=float64))
        assertThat(Activation.GELU.apply(1.0)).isCloseTo(0.8413447460685429, within(1e-15));
        assertThat(Activation.GELU.apply(-0.5)).isCloseTo(-0.15426876936299344, within(1e-15));
        assertThat(Activation.SILU.apply(2.0)).isCloseTo(2.0 / (1.0 + Math.exp(-2.0)), within(1e-15));
        assertThat(Activation.RELU.apply(-3.0)).isEqualTo(0.0);
    }
}

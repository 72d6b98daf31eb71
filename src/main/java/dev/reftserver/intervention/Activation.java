package dev.reftserver.intervention;

import ai.djl.ndarray.NDArray;
import java.util.Locale;

/**
 * The activations pyreft's types take through transformers' {@code ACT2FN}. {@code gelu} is the exact erf form
 * ({@code GELUActivation} wraps {@code torch.nn.functional.gelu} with its default {@code approximate='none'}).
 */
enum Activation {
    LINEAR("linear"),
    RELU("relu"),
    GELU("gelu"),
    SILU("silu"),
    TANH("tanh");

    private static final double SQRT_HALF = Math.sqrt(0.5);

    private final String wireName;

    Activation(String wireName) {
        this.wireName = wireName;
    }

    /** The bundle's {@code act} value. */
    String wireName() {
        return wireName;
    }

    /** Parses an {@code act} value; {@code swish} is ACT2FN's alias for {@code silu}. */
    static Activation fromWireName(String name, String where) {
        String n = name == null ? "" : name.toLowerCase(Locale.ROOT);
        if (n.equals("swish")) {
            return SILU;
        }
        for (Activation a : values()) {
            if (a.wireName.equals(n)) {
                return a;
            }
        }
        throw new BundleRejectedException("activation",
                where + ": unknown activation '" + name + "' (known: linear, relu, gelu, silu, tanh)");
    }

    /** Reference math in double precision. */
    double apply(double x) {
        return switch (this) {
            case LINEAR -> x;
            case RELU -> x > 0 ? x : 0.0;
            case GELU -> 0.5 * x * (1.0 + erf(x * SQRT_HALF));
            case SILU -> x / (1.0 + Math.exp(-x));
            case TANH -> Math.tanh(x);
        };
    }

    /** The same function on a device array; the result belongs to {@code x}'s manager. */
    NDArray apply(NDArray x) {
        return switch (this) {
            case LINEAR -> x;
            case RELU -> x.maximum(0f);
            case GELU -> x.mul(x.mul((float) SQRT_HALF).erf().add(1f)).mul(0.5f);
            case SILU -> x.mul(x.neg().exp().add(1f).pow(-1f));
            case TANH -> x.tanh();
        };
    }

    /**
     * erf to about double precision: the Maclaurin series below 2.5 (at most two digits lost to cancellation
     * there) and the Laplace continued fraction for erfc above it; erf is 1 to double precision beyond 6.
     */
    static double erf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) {
            double x2 = ax * ax;
            double term = ax;
            double sum = ax;
            for (int n = 1; n < 200; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) {
                    break;
                }
            }
            r = 2.0 / Math.sqrt(Math.PI) * sum;
        } else if (ax < 6.0) {
            // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
            double t = ax;
            for (int k = 160; k >= 1; k--) {
                t = ax + (k / 2.0) / t;
            }
            r = 1.0 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * t);
        } else {
            r = 1.0;
        }
        return x < 0 ? -r : r;
    }
}

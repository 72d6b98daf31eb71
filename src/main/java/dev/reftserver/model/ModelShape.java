package dev.reftserver.model;

/** The two facts about the base model that bundles are validated against. */
public record ModelShape(int hiddenSize, int numLayers) {
}

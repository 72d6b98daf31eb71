package dev.reftserver.config;

import dev.reftserver.model.ModelConfig;

/**
 * The loaded base model as clients see it.
 *
 * @param id      the id {@code /v1/models} lists and {@code model} may name
 * @param config  its hyper-parameters
 * @param created load time, seconds since the epoch
 */
public record BaseModel(String id, ModelConfig config, long created) {
}

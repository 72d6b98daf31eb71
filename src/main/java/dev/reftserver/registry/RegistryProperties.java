package dev.reftserver.registry;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * {@code reft.registry.*}.
 *
 * @param cacheMaxBytes  budget of the loaded-bundle cache
 * @param maxUploadBytes largest accepted upload (also the multipart limits); larger ones answer 413
 */
@ConfigurationProperties("reft.registry")
public record RegistryProperties(
        @DefaultValue("256MB") DataSize cacheMaxBytes,
        @DefaultValue("64MB") DataSize maxUploadBytes) {
}

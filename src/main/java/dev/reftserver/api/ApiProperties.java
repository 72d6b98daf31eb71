package dev.reftserver.api;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * {@code reft.api.*}: limits of the HTTP layer.
 *
 * @param maxBodyBytes largest request body other than a multipart upload (those have
 *                     {@code reft.registry.max-upload-bytes}); larger ones answer 413 before they are parsed
 */
@ConfigurationProperties("reft.api")
public record ApiProperties(@DefaultValue("4MB") DataSize maxBodyBytes) {
}

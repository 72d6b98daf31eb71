package dev.reftserver.registry;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * {@code reft.store.*}: the embedded store's directory, or a PostgreSQL JDBC URL that replaces it. Username and
 * password default to {@code spring.datasource.username} / {@code password}.
 */
@ConfigurationProperties("reft.store")
public record StoreProperties(
        @DefaultValue("data") String path, String jdbcUrl, String username, String password) {
}

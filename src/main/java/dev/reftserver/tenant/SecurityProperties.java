package dev.reftserver.tenant;

import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code reft.security.*}.
 *
 * @param adminKey bearer key of the {@code /admin} API; unset disables that API, and with no tenants in the
 *                 store leaves the server in open single-tenant mode
 */
@ConfigurationProperties("reft.security")
public record SecurityProperties(String adminKey) {

    public boolean adminKeyConfigured() {
        return adminKey != null && !adminKey.isBlank();
    }
}

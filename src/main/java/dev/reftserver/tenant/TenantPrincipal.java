package dev.reftserver.tenant;

/**
 * The authenticated caller of a {@code /v1} endpoint. Controllers take it as
 * {@code @AuthenticationPrincipal TenantPrincipal caller}.
 */
public record TenantPrincipal(String tenant) {

    /** The tenant every call acts as in open single-tenant mode. */
    public static final String DEFAULT_TENANT = "default";
}

package dev.reftserver.registry;

/**
 * Something in the store changed, here or on another replica. Listeners drop what they cached about it.
 *
 * @param name    the intervention, task or key id concerned, or {@code null}
 * @param version the intervention version concerned, or 0
 */
public record RegistryChange(Kind kind, String tenant, String name, int version) {

    public enum Kind {
        TENANT_CREATED,
        TENANT_UPDATED,
        TENANT_DELETED,
        KEYS_CHANGED,
        VERSION_ADDED,
        VERSION_DELETED,
        TASK_CHANGED,
        /** Anything may have changed (e.g. notifications were lost while reconnecting): forget everything. */
        ALL
    }

    public static RegistryChange all() {
        return new RegistryChange(Kind.ALL, null, null, 0);
    }
}

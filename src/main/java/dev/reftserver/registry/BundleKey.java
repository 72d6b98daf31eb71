package dev.reftserver.registry;

/** Identifies one stored bundle: a tenant's {@code name@version}. */
public record BundleKey(String tenant, String name, int version) {

    public String id() {
        return name + "@" + version;
    }
}

package dev.reftserver.registry;

/** One weighted route of a task to an exact intervention version. */
public record Route(String name, int version, int weight) {

    public Route {
        if (weight <= 0) {
            throw new IllegalArgumentException("route weight must be positive");
        }
    }

    public String id() {
        return name + "@" + version;
    }
}

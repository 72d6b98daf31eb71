package dev.reftserver.api;

/** Who is calling: the tenant the request's credentials belong to. */
@FunctionalInterface
public interface CallerTenant {

    String tenant();
}

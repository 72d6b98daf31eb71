package dev.reftserver.tenant;

import dev.reftserver.registry.QuotaExceededException;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.servlet.HandlerExceptionResolver;

/**
 * Caps each tenant's {@code /v1} requests in flight on this replica ({@code reft.quotas.concurrent-requests}):
 * one tenant cannot hold every HTTP and streaming thread. A request counts from authentication until its
 * response completes (a stream until its last event); over the cap it answers 429 with {@code Retry-After}.
 */
final class ConcurrentRequestLimit extends OncePerRequestFilter {

    private final int limit;
    private final HandlerExceptionResolver errors;
    private final ConcurrentHashMap<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();

    ConcurrentRequestLimit(int limit, HandlerExceptionResolver errors) {
        this.limit = limit;
        this.errors = errors;
    }

    /** Requests of {@code tenant} in flight now. */
    int inFlight(String tenant) {
        AtomicInteger n = inFlight.get(tenant);
        return n == null ? 0 : n.get();
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        Authentication auth = SecurityContextHolder.getContext().getAuthentication();
        if (auth == null || !(auth.getPrincipal() instanceof TenantPrincipal caller)) {
            chain.doFilter(request, response);
            return;
        }
        String tenant = caller.tenant();
        AtomicInteger count = inFlight.computeIfAbsent(tenant, t -> new AtomicInteger());
        if (count.incrementAndGet() > limit) {
            count.decrementAndGet();
            errors.resolveException(request, response, null, QuotaExceededException.concurrent(tenant, limit));
            return;
        }
        Release release = new Release(count);
        try {
            chain.doFilter(request, response);
        } finally {
            if (request.isAsyncStarted()) {
                request.getAsyncContext().addListener(release);
            } else {
                release.run();
            }
        }
    }

    /** Gives the slot back exactly once, when the response completes. */
    private static final class Release implements AsyncListener, Runnable {

        private final AtomicInteger count;
        private final AtomicBoolean done = new AtomicBoolean();

        Release(AtomicInteger count) {
            this.count = count;
        }

        @Override
        public void run() {
            if (done.compareAndSet(false, true)) {
                count.decrementAndGet();
            }
        }

        @Override
        public void onComplete(AsyncEvent event) {
            run();
        }

        @Override
        public void onTimeout(AsyncEvent event) {
        }

        @Override
        public void onError(AsyncEvent event) {
        }

        /** A stream starts async again on its async dispatch, and the container drops listeners then. */
        @Override
        public void onStartAsync(AsyncEvent event) {
            event.getAsyncContext().addListener(this);
        }
    }
}

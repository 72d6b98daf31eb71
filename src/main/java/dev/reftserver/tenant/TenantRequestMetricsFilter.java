package dev.reftserver.tenant;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Counts each tenant's {@code /v1} calls by final status ({@code reft_tenant_requests_total{tenant,status}}).
 * Runs after the security filter chain, so calls refused before authentication have no tenant and are not
 * counted here (the HTTP request timer has them). A call that goes async (completions) is counted when its
 * response completes, with the status it ended with.
 */
final class TenantRequestMetricsFilter extends OncePerRequestFilter {

    private record Series(String tenant, int status) {
    }

    private final MeterRegistry registry;
    private final Function<String, String> tenantTag;
    /** Bounded: tenant tag values (the policy's limit plus {@code other}) times the statuses the API answers. */
    private final Map<Series, Counter> counters = new ConcurrentHashMap<>();

    TenantRequestMetricsFilter(MeterRegistry registry, Function<String, String> tenantTag) {
        this.registry = registry;
        this.tenantTag = tenantTag;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        Authentication auth = SecurityContextHolder.getContext().getAuthentication();
        if (auth == null || !(auth.getPrincipal() instanceof TenantPrincipal caller)) {
            chain.doFilter(request, response);
            return;
        }
        String tag = tenantTag.apply(caller.tenant());
        boolean threw = true;
        try {
            chain.doFilter(request, response);
            threw = false;
        } finally {
            if (request.isAsyncStarted()) {
                request.getAsyncContext().addListener(new CountOnComplete(tag, response));
            } else {
                count(tag, threw ? HttpServletResponse.SC_INTERNAL_SERVER_ERROR : response.getStatus());
            }
        }
    }

    private void count(String tag, int status) {
        counters.computeIfAbsent(new Series(tag, status), s -> Counter.builder("reft.tenant.requests")
                .description("Requests per tenant, by final HTTP status")
                .tag("tenant", s.tenant())
                .tag("status", Integer.toString(s.status()))
                .register(registry)).increment();
    }

    /** Every async request completes exactly once, after a timeout or error too, with its final status set. */
    private final class CountOnComplete implements AsyncListener {

        private final String tag;
        private final HttpServletResponse response;

        CountOnComplete(String tag, HttpServletResponse response) {
            this.tag = tag;
            this.response = response;
        }

        @Override
        public void onComplete(AsyncEvent event) {
            count(tag, response.getStatus());
        }

        @Override
        public void onTimeout(AsyncEvent event) {
        }

        @Override
        public void onError(AsyncEvent event) {
        }

        /**
         * A stream starts async again on its async dispatch, and the container drops listeners then: stay on
         * until the response really completes.
         */
        @Override
        public void onStartAsync(AsyncEvent event) {
            event.getAsyncContext().addListener(this);
        }
    }
}

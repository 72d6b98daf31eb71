package dev.reftserver.tenant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.registry.QuotaExceededException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.mock.web.MockAsyncContext;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.core.context.SecurityContextHolder;

class ConcurrentRequestLimitTest {

    private final List<Exception> refusals = new ArrayList<>();
    private final ConcurrentRequestLimit limit = new ConcurrentRequestLimit(2, (req, res, handler, e) -> {
        refusals.add(e);
        return null;
    });

    @AfterEach
    void clearCaller() {
        SecurityContextHolder.clearContext();
    }

    private static void callerIs(String tenant) {
        SecurityContextHolder.getContext().setAuthentication(
                UsernamePasswordAuthenticationToken.authenticated(new TenantPrincipal(tenant), null, List.of()));
    }

    @Test
    void refusesATenantsRequestBeyondItsLimitWhileOthersAreInFlight() throws Exception {
        callerIs("acme");
        AtomicInteger served = new AtomicInteger();
        // Each request starts the next one from inside its own handling: three deep is one over the limit of 2.
        limit.doFilter(new MockHttpServletRequest(), new MockHttpServletResponse(), (req, res) -> {
            served.incrementAndGet();
            assertThat(limit.inFlight("acme")).isEqualTo(1);
            limit.doFilter(new MockHttpServletRequest(), new MockHttpServletResponse(), (req2, res2) -> {
                served.incrementAndGet();
                limit.doFilter(new MockHttpServletRequest(), new MockHttpServletResponse(),
                        (req3, res3) -> served.incrementAndGet());
                // Another tenant is not affected.
                callerIs("other");
                limit.doFilter(new MockHttpServletRequest(), new MockHttpServletResponse(),
                        (req4, res4) -> served.incrementAndGet());
                callerIs("acme");
            });
        });
        assertThat(served).hasValue(3);
        assertThat(refusals).singleElement().isInstanceOfSatisfying(QuotaExceededException.class, e -> {
            assertThat(e.status()).isEqualTo(HttpStatus.TOO_MANY_REQUESTS);
            assertThat(e.getMessage()).contains("reft.quotas.concurrent-requests");
            assertThat(e.headers().getFirst("Retry-After")).isEqualTo("1");
        });
        assertThat(limit.inFlight("acme")).isZero();
        assertThat(limit.inFlight("other")).isZero();
    }

    @Test
    void anAsyncRequestHoldsItsSlotUntilItsResponseCompletes() throws Exception {
        callerIs("acme");
        MockHttpServletRequest request = new MockHttpServletRequest();
        request.setAsyncSupported(true);
        MockHttpServletResponse response = new MockHttpServletResponse();
        limit.doFilter(request, response, (req, res) -> req.startAsync());
        assertThat(limit.inFlight("acme")).isEqualTo(1);
        ((MockAsyncContext) request.getAsyncContext()).complete();
        assertThat(limit.inFlight("acme")).isZero();
    }
}

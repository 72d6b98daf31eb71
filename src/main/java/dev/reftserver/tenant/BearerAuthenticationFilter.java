package dev.reftserver.tenant;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.core.authority.SimpleGrantedAuthority;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Reads {@code Authorization: Bearer <key>}: the admin key authenticates {@code /admin} and other actuator
 * calls, a tenant key authenticates {@code /v1} calls as that tenant. Leaves the call anonymous otherwise;
 * the authorization rules then answer 401 / 403.
 */
final class BearerAuthenticationFilter extends OncePerRequestFilter {

    static final String ROLE_ADMIN = "ADMIN";
    static final String ROLE_TENANT = "TENANT";

    private final AccessPolicy policy;
    private final ApiKeys keys;

    BearerAuthenticationFilter(AccessPolicy policy, ApiKeys keys) {
        this.policy = policy;
        this.keys = keys;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        String path = request.getRequestURI().substring(request.getContextPath().length());
        String token = bearer(request);
        if (path.startsWith("/admin") || path.startsWith("/actuator")) {
            if (token != null && policy.isAdminKey(token)) {
                authenticate("admin", ROLE_ADMIN);
            }
        } else if (path.startsWith("/v1/")) {
            Optional<TenantPrincipal> tenant = token == null ? Optional.empty() : keys.authenticate(token);
            if (tenant.isPresent()) {
                authenticate(tenant.get(), ROLE_TENANT);
            } else if (policy.openMode()) {
                authenticate(new TenantPrincipal(TenantPrincipal.DEFAULT_TENANT), ROLE_TENANT);
            }
        }
        chain.doFilter(request, response);
    }

    static String bearer(HttpServletRequest request) {
        String header = request.getHeader("Authorization");
        if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        String token = header.substring(7).trim();
        return token.isEmpty() ? null : token;
    }

    private static void authenticate(Object principal, String role) {
        var auth = UsernamePasswordAuthenticationToken.authenticated(principal, null,
                List.of(new SimpleGrantedAuthority("ROLE_" + role)));
        var context = SecurityContextHolder.createEmptyContext();
        context.setAuthentication(auth);
        SecurityContextHolder.setContext(context);
    }
}

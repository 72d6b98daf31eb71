package dev.reftserver.tenant;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.security.authorization.AuthorizationDecision;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configuration.EnableWebSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.authentication.AnonymousAuthenticationFilter;
import org.springframework.security.web.header.writers.DelegatingRequestMatcherHeaderWriter;
import org.springframework.security.web.header.writers.StaticHeadersWriter;
import org.springframework.security.web.servlet.util.matcher.PathPatternRequestMatcher;
import org.springframework.security.web.util.matcher.OrRequestMatcher;
import org.springframework.security.web.util.matcher.RequestMatcher;
import org.springframework.web.servlet.HandlerExceptionResolver;

/**
 * Stateless bearer-key security. Open: the web console's static pages, health probes, OpenAPI docs, and
 * Prometheus when it has a management port of its own or no admin key is configured (else it needs the admin
 * key). {@code /admin/**} and the other actuator endpoints: the admin key (403 {@code admin_disabled} when none is configured). {@code /v1/**}: a
 * tenant key, or nothing in open mode. Refusals are rendered by the API's exception handler, so they have the
 * OpenAI error shape like every other error.
 *
 * <p>The console's pages get a Content-Security-Policy that lets them load and call nothing but this server: its
 * scripts and styles are files (no inline code), and the caller's key never leaves the page's own origin.
 */
@Configuration(proxyBeanMethods = false)
@EnableWebSecurity
class SecurityConfiguration {

    /** The console: {@code /} (the welcome page {@code static/index.html}) and its assets under {@code /console/}. */
    static final String[] CONSOLE_PATHS = {"/", "/index.html", "/console/**"};

    static final String CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    @Bean
    SecurityFilterChain apiSecurity(HttpSecurity http, AccessPolicy policy, ApiKeys keys, Environment env,
            @Qualifier("handlerExceptionResolver") HandlerExceptionResolver errors) throws Exception {
        // Metrics name tenants. On a management port of their own (reachable by the scraper only) they are open;
        // sharing the serving port they need the admin key, unless there is none (open mode stays open).
        boolean prometheusOpen = separateManagementPort(env) || !policy.adminEnabled();
        http.csrf(c -> c.disable())
                .sessionManagement(s -> s.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
                .httpBasic(b -> b.disable())
                .formLogin(f -> f.disable())
                .logout(l -> l.disable())
                .requestCache(r -> r.disable())
                .headers(h -> h.addHeaderWriter(new DelegatingRequestMatcherHeaderWriter(consolePages(),
                        new StaticHeadersWriter("Content-Security-Policy", CONSOLE_CSP))))
                .addFilterBefore(new BearerAuthenticationFilter(policy, keys), AnonymousAuthenticationFilter.class)
                .authorizeHttpRequests(a -> a
                        // the request was authorized on its first dispatch; streams and error pages follow it
                        .dispatcherTypeMatchers(DispatcherType.ASYNC, DispatcherType.ERROR).permitAll()
                        .requestMatchers("/actuator/health", "/actuator/health/**", "/v3/api-docs",
                                "/v3/api-docs/**", "/swagger-ui.html", "/swagger-ui/**")
                        .permitAll()
                        // static files only; every call the console makes carries the caller's key
                        .requestMatchers(CONSOLE_PATHS).permitAll()
                        .requestMatchers("/actuator/prometheus")
                        .access((auth, ctx) -> new AuthorizationDecision(prometheusOpen || auth.get()
                                .getAuthorities().stream().anyMatch(g -> g.getAuthority().equals(
                                        "ROLE_" + BearerAuthenticationFilter.ROLE_ADMIN))))
                        .requestMatchers("/admin/**", "/actuator/**").hasRole(BearerAuthenticationFilter.ROLE_ADMIN)
                        .requestMatchers("/v1/**").hasRole(BearerAuthenticationFilter.ROLE_TENANT)
                        .anyRequest().permitAll())
                .exceptionHandling(e -> e
                        .authenticationEntryPoint((req, res, ex) ->
                                errors.resolveException(req, res, null, refusal(req, policy)))
                        .accessDeniedHandler((req, res, ex) ->
                                errors.resolveException(req, res, null, new AccessDeniedApiException())));
        return http.build();
    }

    private static RequestMatcher consolePages() {
        PathPatternRequestMatcher.Builder paths = PathPatternRequestMatcher.withDefaults();
        RequestMatcher[] matchers = new RequestMatcher[CONSOLE_PATHS.length];
        for (int i = 0; i < matchers.length; i++) {
            matchers[i] = paths.matcher(CONSOLE_PATHS[i]);
        }
        return new OrRequestMatcher(matchers);
    }

    /**
     * Whether actuator endpoints live on a port of their own: Spring Boot's rule ({@code management.server.port}
     * set, not negative, and not the serving port unless both are 0 = random).
     */
    static boolean separateManagementPort(Environment env) {
        Integer management = env.getProperty("management.server.port", Integer.class);
        Integer server = env.getProperty("server.port", Integer.class);
        if (management == null || management < 0) {
            return false;
        }
        if (server == null) {
            return management != 8080;
        }
        return management == 0 || !management.equals(server);
    }

    private static RuntimeException refusal(HttpServletRequest req, AccessPolicy policy) {
        String path = req.getRequestURI().substring(req.getContextPath().length());
        boolean adminPath = path.startsWith("/admin") || path.startsWith("/actuator");
        if (adminPath && !policy.adminEnabled()) {
            return new AdminDisabledException();
        }
        return new AuthenticationRequiredException(BearerAuthenticationFilter.bearer(req) == null
                ? "You didn't provide an API key. Provide it as 'Authorization: Bearer <key>'."
                : "Incorrect API key provided.");
    }
}

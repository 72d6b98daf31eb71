package dev.reftserver.api;

import dev.reftserver.config.BaseModel;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Default wiring of the API's collaborators for a single-tenant server without a registry. */
@Configuration(proxyBeanMethods = false)
class ApiWiring {

    @Bean
    CompletionTargets completionTargets(BaseModel base) {
        return new BaseModelTargets(base);
    }

    @Bean
    CallerTenant callerTenant() {
        return () -> "default";
    }
}

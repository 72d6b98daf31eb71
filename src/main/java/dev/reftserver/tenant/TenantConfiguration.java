package dev.reftserver.tenant;

import dev.reftserver.registry.RegistryStore;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

@Configuration(proxyBeanMethods = false)
class TenantConfiguration {

    @Bean
    ApiKeys apiKeys(RegistryStore store) {
        return new ApiKeys(store);
    }

    @Bean
    AccessPolicy accessPolicy(SecurityProperties props, RegistryStore store) {
        return new AccessPolicy(props, store);
    }

    @Bean
    TenantAdmin tenantAdmin(RegistryStore store, ApiKeys keys) {
        return new TenantAdmin(store, keys);
    }

    @Bean
    RateLimiter rateLimiter(RegistryStore store) {
        return new RateLimiter(store);
    }
}

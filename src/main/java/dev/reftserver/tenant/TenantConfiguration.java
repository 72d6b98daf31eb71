package dev.reftserver.tenant;

import dev.reftserver.config.TenantTagPolicy;
import dev.reftserver.registry.Quotas;
import dev.reftserver.registry.RegistryStore;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.security.autoconfigure.web.servlet.SecurityFilterProperties;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.servlet.HandlerExceptionResolver;

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

    /** Right after the security filter chain, so the caller is authenticated when it runs. */
    @Bean
    FilterRegistrationBean<TenantRequestMetricsFilter> tenantRequestMetrics(MeterRegistry registry,
            TenantTagPolicy tenantTag) {
        var bean = new FilterRegistrationBean<>(new TenantRequestMetricsFilter(registry, tenantTag));
        bean.setOrder(SecurityFilterProperties.DEFAULT_FILTER_ORDER + 1);
        return bean;
    }

    /** After the security chain (the caller is known), refusals rendered in the API's error shape. */
    @Bean
    FilterRegistrationBean<ConcurrentRequestLimit> concurrentRequestLimit(Quotas quotas,
            @Qualifier("handlerExceptionResolver") HandlerExceptionResolver errors) {
        var bean = new FilterRegistrationBean<>(new ConcurrentRequestLimit(quotas.concurrentRequests(), errors));
        bean.setOrder(SecurityFilterProperties.DEFAULT_FILTER_ORDER + 2);
        return bean;
    }
}

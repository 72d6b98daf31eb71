package dev.reftserver.api;

import ai.djl.ndarray.NDManager;
import dev.reftserver.intervention.BundleImporter;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.LoadedBundle;
import dev.reftserver.model.ModelShape;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.BundleCache;
import dev.reftserver.registry.BundleCacheMetrics;
import dev.reftserver.registry.BundleValidator;
import dev.reftserver.registry.InterventionResolver;
import dev.reftserver.registry.RegistryProperties;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.tenant.TenantPrincipal;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.MeterBinder;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.SecurityContextHolder;
import tools.jackson.databind.json.JsonMapper;

/** Joins the registry, the intervention package and the model for the API. */
@Configuration(proxyBeanMethods = false)
class ApiWiring {

    /** Uploads are checked and converted by the importer against the loaded base model. */
    @Bean
    BundleValidator bundleValidator(BundleImporter importer, ModelShape shape) {
        return (zip, positions, shareWeights) -> importer.importZip(zip, shape, positions, shareWeights);
    }

    /** Parent of every device-resident bundle: on the model's device, freed at shutdown. */
    @Bean(destroyMethod = "close")
    NDManager bundleManager(TransformerLM model) {
        return NDManager.newBaseManager(model.device());
    }

    @Bean
    BundleCache<LoadedBundle> bundleCache(RegistryStore store, RegistryProperties props, NDManager bundleManager,
            ModelShape shape, BundleLimits limits) {
        return new BundleCache<>(store, props.cacheMaxBytes().toBytes(),
                bytes -> LoadedBundle.load(bytes, shape, limits, bundleManager), LoadedBundle::deviceBytes);
    }

    @Bean
    BundleCacheMetrics bundleCacheMetrics(BundleCache<LoadedBundle> cache) {
        return new BundleCacheMetrics(cache);
    }

    @Bean
    CompletionTargets completionTargets(InterventionResolver resolver, BundleCache<LoadedBundle> cache,
            RegistryStore store) {
        return new RegistryTargets(resolver, cache, store);
    }

    /** Live NDArrays across the model (weights, KV cache), the engine's steps and loaded bundles: flat = no leak. */
    @Bean
    MeterBinder liveArraysGauge(TransformerLM model, dev.reftserver.engine.Scheduler scheduler,
            NDManager bundleManager) {
        return registry -> Gauge.builder("reft.ndarrays.live",
                        () -> model.liveArrays() + scheduler.liveStepArrays() + bundleManager.getManagedArrays().size())
                .description("NDArrays alive on the device (model, KV cache, engine steps, loaded bundles)")
                .register(registry);
    }

    /** First of all filters: nothing may read a body past the cap. */
    @Bean
    FilterRegistrationBean<RequestBodyLimit> requestBodyLimit(ApiProperties props, JsonMapper json) {
        var bean = new FilterRegistrationBean<>(new RequestBodyLimit(props.maxBodyBytes().toBytes(), json));
        bean.setOrder(Ordered.HIGHEST_PRECEDENCE);
        return bean;
    }

    /** The tenant the security filter chain authenticated (open mode: {@code default}). */
    @Bean
    CallerTenant callerTenant() {
        return () -> {
            Authentication auth = SecurityContextHolder.getContext().getAuthentication();
            if (auth != null && auth.getPrincipal() instanceof TenantPrincipal p) {
                return p.tenant();
            }
            throw new IllegalStateException("no authenticated tenant on a /v1 call");
        };
    }
}

package dev.reftserver.registry;

import dev.reftserver.config.BaseModel;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;

/** The registry's beans; the store is embedded unless {@link PostgresStoreConfiguration} applies. */
@Configuration(proxyBeanMethods = false)
class RegistryConfiguration {

    @Bean(destroyMethod = "close")
    @Conditional(JdbcUrlCondition.Absent.class)
    EmbeddedStore registryStore(StoreProperties props, Quotas quotas) {
        return new EmbeddedStore(Path.of(props.path()), quotas);
    }

    @Bean
    InterventionResolver interventionResolver(RegistryStore store, BaseModel base) {
        return new InterventionResolver(store, base.id());
    }

    @Bean
    UploadMetrics uploadMetrics(MeterRegistry registry) {
        return new UploadMetrics(registry);
    }

    @Bean
    InterventionUploads interventionUploads(RegistryStore store, BundleValidator validator, UploadMetrics metrics) {
        return new InterventionUploads(store, validator, metrics);
    }

    @Bean
    TaskDefinitions taskDefinitions(RegistryStore store, Quotas quotas) {
        return new TaskDefinitions(store, quotas);
    }
}

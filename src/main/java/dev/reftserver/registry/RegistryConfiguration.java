package dev.reftserver.registry;

import dev.reftserver.config.BaseModel;
import java.nio.file.Path;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;

/** The registry's beans; the store is embedded unless {@link PostgresStoreConfiguration} applies. */
@Configuration(proxyBeanMethods = false)
class RegistryConfiguration {

    @Bean(destroyMethod = "close")
    @Conditional(JdbcUrlCondition.Absent.class)
    EmbeddedStore registryStore(StoreProperties props) {
        return new EmbeddedStore(Path.of(props.path()));
    }

    @Bean
    InterventionResolver interventionResolver(RegistryStore store, BaseModel base) {
        return new InterventionResolver(store, base.id());
    }

    @Bean
    InterventionUploads interventionUploads(RegistryStore store, BundleValidator validator) {
        return new InterventionUploads(store, validator);
    }

    @Bean
    TaskDefinitions taskDefinitions(RegistryStore store) {
        return new TaskDefinitions(store);
    }
}

package dev.reftserver.registry;

import com.zaxxer.hikari.HikariDataSource;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * PostgreSQL, only when {@code reft.store.jdbc-url} is set; otherwise no DataSource exists at all (Boot's
 * DataSource and Flyway auto-configurations are excluded in application.yml).
 */
@Configuration(proxyBeanMethods = false)
@Conditional(JdbcUrlCondition.class)
class PostgresStoreConfiguration {

    @Bean(destroyMethod = "close")
    HikariDataSource dataSource(StoreProperties props, Environment env) {
        HikariDataSource ds = new HikariDataSource();
        ds.setPoolName("registry");
        ds.setJdbcUrl(props.jdbcUrl());
        ds.setUsername(props.username() != null ? props.username() : env.getProperty("spring.datasource.username"));
        ds.setPassword(props.password() != null ? props.password() : env.getProperty("spring.datasource.password"));
        ds.setMaximumPoolSize(10);
        return ds;
    }

    @Bean(destroyMethod = "close")
    PostgresStore registryStore(DataSource dataSource, Quotas quotas) {
        Flyway.configure().dataSource(dataSource).locations("classpath:db/migration").load().migrate();
        return new PostgresStore(dataSource, quotas);
    }
}

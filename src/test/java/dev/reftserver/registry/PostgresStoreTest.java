package dev.reftserver.registry;

import com.zaxxer.hikari.HikariDataSource;
import java.util.ArrayList;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

class PostgresStoreTest extends RegistryStoreContract {

    private static TestPostgres db;
    private final List<HikariDataSource> pools = new ArrayList<>();

    @BeforeAll
    static void database() {
        db = TestPostgres.open();
    }

    @AfterAll
    static void dropDatabase() throws Exception {
        if (db != null) {
            db.close();
        }
    }

    @Override
    protected RegistryStore newStore(Quotas quotas) {
        HikariDataSource ds = pool();
        Flyway flyway = Flyway.configure().dataSource(ds).locations("classpath:db/migration").cleanDisabled(false)
                .load();
        flyway.clean();
        flyway.migrate();
        return new PostgresStore(ds, quotas);
    }

    @Override
    protected RegistryStore reopen(Quotas quotas) {
        return new PostgresStore(pool(), quotas);
    }

    @Override
    protected boolean replicasShareStorage() {
        return true;
    }

    private HikariDataSource pool() {
        HikariDataSource ds = new HikariDataSource();
        ds.setJdbcUrl(db.jdbcUrl());
        ds.setUsername(db.user());
        ds.setPassword(db.password());
        ds.setMaximumPoolSize(4);
        pools.add(ds);
        return ds;
    }

    @AfterEach
    void closePools() {
        pools.forEach(HikariDataSource::close);
        pools.clear();
    }
}

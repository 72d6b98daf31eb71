package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

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

    @Test
    void aJobIsAbandonedOnlyOnceItsReplicaHasNotMarkedItAliveForAWholeLease() throws Exception {
        Instant t0 = Instant.parse("2026-01-01T00:00:00Z");
        for (String id : List.of("ftjob-a", "ftjob-b", "ftjob-c")) {
            store.putJob(new StoredJob(id, "acme", t0, "{}", 3, 6, "running", 1, 10, null, null, null, "r2"));
        }
        Duration lease = Duration.ofMinutes(1);
        // Just written: alive, whatever the replica asking.
        assertThat(store.claimAbandonedJobs(lease, "r1", 10)).isEmpty();

        try (HikariDataSource ds = pool(); Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE fine_tuning_jobs SET heartbeat_at = now() - interval '2 minutes'");
        }
        store.heartbeatJobs("r2", List.of("ftjob-a"));
        store.heartbeatJobs("r3", List.of("ftjob-b")); // not its job: no heartbeat
        store.heartbeatJobs("r2", List.of());

        assertThat(store.claimAbandonedJobs(lease, "r1", 10)).extracting(StoredJob::id)
                .containsExactly("ftjob-b", "ftjob-c");
        assertThat(store.unfinishedJobs()).extracting(StoredJob::owner).containsExactly("r2", "r1", "r1");
        // Nor does a replica take over its own jobs, however old.
        try (HikariDataSource ds = pool(); Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE fine_tuning_jobs SET heartbeat_at = now() - interval '2 minutes'");
        }
        assertThat(store.claimAbandonedJobs(lease, "r1", 10)).extracting(StoredJob::id).containsExactly("ftjob-a");
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

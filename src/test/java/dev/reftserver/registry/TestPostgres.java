package dev.reftserver.registry;

import static org.junit.jupiter.api.Assertions.fail;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * A fresh PostgreSQL schema for one test class: from {@code REFT_TEST_JDBC_URL} (+ {@code REFT_TEST_JDBC_USER},
 * {@code REFT_TEST_JDBC_PASSWORD}) when set, else a Testcontainers PostgreSQL when Docker answers, else the test
 * is skipped, except under CI ({@code CI} set), where it fails: CI never skips these silently.
 */
public record TestPostgres(String jdbcUrl, String user, String password, AutoCloseable cleanup) implements AutoCloseable {

    public static TestPostgres open() {
        String url = System.getenv("REFT_TEST_JDBC_URL");
        if (url != null && !url.isBlank()) {
            return freshSchema(url, System.getenv("REFT_TEST_JDBC_USER"), System.getenv("REFT_TEST_JDBC_PASSWORD"));
        }
        if (dockerAvailable()) {
            PostgreSQLContainer pg = new PostgreSQLContainer("postgres:15-alpine");
            pg.start();
            return new TestPostgres(pg.getJdbcUrl(), pg.getUsername(), pg.getPassword(), pg::stop);
        }
        String why = "no PostgreSQL for the store tests: set REFT_TEST_JDBC_URL (scripts/start-test-postgres.sh "
                + "starts one) or make Docker available";
        if (System.getenv("CI") != null) {
            fail(why);
        }
        System.err.println("SKIPPED: " + why);
        Assumptions.abort(why);
        throw new AssertionError("unreachable");
    }

    private static TestPostgres freshSchema(String url, String user, String password) {
        String schema = "t_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
        execute(url, user, password, "CREATE SCHEMA " + schema);
        String schemaUrl = url + (url.contains("?") ? "&" : "?") + "currentSchema=" + schema;
        return new TestPostgres(schemaUrl, user, password,
                () -> execute(url, user, password, "DROP SCHEMA " + schema + " CASCADE"));
    }

    private static void execute(String url, String user, String password, String sql) {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement s = c.createStatement()) {
            s.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot run '" + sql + "' on " + url, e);
        }
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() throws Exception {
        cleanup.close();
    }
}

package dev.reftserver.registry;

import dev.reftserver.intervention.BundleSummary;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.sql.Array;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.dao.DuplicateKeyException;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.core.RowMapper;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * The store replicas share: PostgreSQL, schema by Flyway ({@code db/migration}). A version's bundle bytes and
 * metadata go in one transaction. Version numbers come from an upsert on a per-name row, which serializes
 * concurrent uploads of one name from any replica. Every change is also sent with {@code pg_notify} in its
 * transaction; a daemon thread of each replica LISTENs on a dedicated connection and tells this replica's
 * listeners of other replicas' changes, so their caches drop stale entries within a second.
 */
public final class PostgresStore implements RegistryStore {

    private static final Logger log = LoggerFactory.getLogger(PostgresStore.class);
    static final String CHANNEL = "reft_registry";
    private static final int POLL_MS = 200;

    private final DataSource dataSource;
    private final JdbcTemplate jdbc;
    private final TransactionTemplate tx;
    private final SecureRandom random = new SecureRandom();
    private final String origin = UUID.randomUUID().toString();
    private final List<Consumer<RegistryChange>> listeners = new CopyOnWriteArrayList<>();
    private final CountDownLatch firstListen = new CountDownLatch(1);
    private final Thread listenerThread;
    private final Quotas quotas;
    private volatile boolean running = true;

    /** Expects the schema migrated (see {@link PostgresStoreConfiguration}); starts listening before it returns. */
    public PostgresStore(DataSource dataSource) {
        this(dataSource, Quotas.DEFAULTS);
    }

    /** As {@link #PostgresStore(DataSource)}, enforcing {@code quotas} on every write. */
    public PostgresStore(DataSource dataSource, Quotas quotas) {
        this.quotas = quotas;
        this.dataSource = dataSource;
        this.jdbc = new JdbcTemplate(dataSource);
        this.tx = new TransactionTemplate(new DataSourceTransactionManager(dataSource));
        this.listenerThread = new Thread(this::listen, "registry-notifications");
        listenerThread.setDaemon(true);
        listenerThread.start();
        try {
            if (!firstListen.await(10, TimeUnit.SECONDS)) {
                log.warn("not yet listening for registry changes of other replicas; retrying in the background");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- tenants and keys

    @Override
    public Tenant createTenant(String name, RateLimits limits) {
        Tenant tenant = new Tenant(name, EmbeddedStore.now(), limits);
        try {
            inTx(() -> {
                jdbc.update("INSERT INTO tenants (name, created_at, requests_per_minute, tokens_per_minute) "
                        + "VALUES (?, ?, ?, ?)", name, Timestamp.from(tenant.createdAt()),
                        limits.requestsPerMinute(), limits.tokensPerMinute());
                return notifyOthers(new RegistryChange(RegistryChange.Kind.TENANT_CREATED, name, null, 0));
            });
        } catch (DuplicateKeyException e) {
            throw new TenantExistsException(name);
        }
        return tenant;
    }

    @Override
    public Optional<Tenant> tenant(String name) {
        return jdbc.query("SELECT * FROM tenants WHERE name = ?", TENANT, name).stream().findFirst();
    }

    @Override
    public List<Tenant> tenants() {
        return jdbc.query("SELECT * FROM tenants ORDER BY name", TENANT);
    }

    @Override
    public boolean hasTenants() {
        return Boolean.TRUE.equals(jdbc.queryForObject("SELECT EXISTS (SELECT 1 FROM tenants)", Boolean.class));
    }

    @Override
    public Tenant updateLimits(String name, RateLimits limits) {
        return inTx(() -> {
            int n = jdbc.update("UPDATE tenants SET requests_per_minute = ?, tokens_per_minute = ? WHERE name = ?",
                    limits.requestsPerMinute(), limits.tokensPerMinute(), name);
            if (n == 0) {
                throw new UnknownTenantException(name);
            }
            notifyOthers(new RegistryChange(RegistryChange.Kind.TENANT_UPDATED, name, null, 0));
            return tenant(name).orElseThrow();
        });
    }

    @Override
    public boolean deleteTenant(String name) {
        return inTx(() -> {
            // Tasks first: their routes pin versions against deletion.
            jdbc.update("DELETE FROM tasks WHERE tenant = ?", name);
            jdbc.update("DELETE FROM intervention_names WHERE tenant = ?", name);
            jdbc.update("DELETE FROM api_keys WHERE tenant = ?", name);
            jdbc.update("DELETE FROM training_files WHERE tenant = ?", name);
            jdbc.update("DELETE FROM fine_tuning_jobs WHERE tenant = ?", name);
            boolean existed = jdbc.update("DELETE FROM tenants WHERE name = ?", name) > 0;
            notifyOthers(new RegistryChange(RegistryChange.Kind.TENANT_DELETED, name, null, 0));
            return existed;
        });
    }

    @Override
    public ApiKeyRecord addKey(String tenant, byte[] keyHash) {
        ApiKeyRecord key = new ApiKeyRecord(newKeyId(), tenant, keyHash.clone(), EmbeddedStore.now());
        return inTx(() -> {
            if (jdbc.query("SELECT 1 FROM tenants WHERE name = ? FOR KEY SHARE", (rs, i) -> 1, tenant).isEmpty()) {
                throw new UnknownTenantException(tenant);
            }
            jdbc.update("INSERT INTO api_keys (id, tenant, key_hash, created_at) VALUES (?, ?, ?, ?)", key.id(),
                    tenant, key.keyHash(), Timestamp.from(key.createdAt()));
            notifyOthers(new RegistryChange(RegistryChange.Kind.KEYS_CHANGED, tenant, key.id(), 0));
            return key;
        });
    }

    @Override
    public Optional<ApiKeyRecord> keyByHash(byte[] keyHash) {
        // The lookup is by the hash of the presented key; the caller compares the hashes again in constant time.
        return jdbc.query("SELECT * FROM api_keys WHERE key_hash = ?", KEY, (Object) keyHash).stream()
                .findFirst();
    }

    @Override
    public List<ApiKeyRecord> keys(String tenant) {
        return jdbc.query("SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id", KEY, tenant);
    }

    @Override
    public boolean deleteKey(String tenant, String keyId) {
        return inTx(() -> {
            boolean deleted = jdbc.update("DELETE FROM api_keys WHERE tenant = ? AND id = ?", tenant, keyId) > 0;
            if (deleted) {
                notifyOthers(new RegistryChange(RegistryChange.Kind.KEYS_CHANGED, tenant, keyId, 0));
            }
            return deleted;
        });
    }

    // ---- intervention versions

    private static final String VERSION_COLUMNS = "tenant, name, version, type, layers, rank, positions, "
            + "share_weights, interventions, sha256, size, created_at";

    @Override
    public InterventionVersion addVersion(String tenant, String name, BundleSummary summary, byte[] bundle) {
        String sha = Sha256.hex(bundle);
        java.time.Instant created = EmbeddedStore.now();
        return inTx(() -> {
            lockQuotas(tenant);
            Map<String, Object> use = jdbc.queryForMap("SELECT count(DISTINCT name) AS names, "
                    + "count(*) FILTER (WHERE name = ?) AS of_name, coalesce(sum(size), 0) AS stored "
                    + "FROM intervention_versions WHERE tenant = ?", name, tenant);
            quotas.checkNewVersion(tenant, name, ((Number) use.get("names")).longValue(),
                    ((Number) use.get("of_name")).longValue(), ((Number) use.get("stored")).longValue(),
                    bundle.length);
            Integer version = jdbc.queryForObject("INSERT INTO intervention_names (tenant, name, last_version) "
                    + "VALUES (?, ?, 1) ON CONFLICT (tenant, name) "
                    + "DO UPDATE SET last_version = intervention_names.last_version + 1 RETURNING last_version",
                    Integer.class, tenant, name);
            jdbc.update(con -> {
                var ps = con.prepareStatement("INSERT INTO intervention_versions (" + VERSION_COLUMNS
                        + ", bundle) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                ps.setString(1, tenant);
                ps.setString(2, name);
                ps.setInt(3, version);
                ps.setString(4, summary.type());
                ps.setArray(5, con.createArrayOf("integer", summary.layers().toArray()));
                ps.setInt(6, summary.rank());
                ps.setString(7, summary.positions());
                ps.setBoolean(8, summary.shareWeights());
                ps.setInt(9, summary.interventions());
                ps.setString(10, sha);
                ps.setLong(11, bundle.length);
                ps.setTimestamp(12, Timestamp.from(created));
                ps.setBytes(13, bundle);
                return ps;
            });
            notifyOthers(new RegistryChange(RegistryChange.Kind.VERSION_ADDED, tenant, name, version));
            return new InterventionVersion(tenant, name, version, summary, sha, bundle.length, created);
        });
    }

    @Override
    public List<InterventionVersion> versions(String tenant) {
        return jdbc.query("SELECT " + VERSION_COLUMNS + " FROM intervention_versions WHERE tenant = ? "
                + "ORDER BY name, version", VERSION, tenant);
    }

    @Override
    public List<InterventionVersion> versions(String tenant, String name) {
        return jdbc.query("SELECT " + VERSION_COLUMNS + " FROM intervention_versions WHERE tenant = ? AND name = ? "
                + "ORDER BY version", VERSION, tenant, name);
    }

    @Override
    public Optional<InterventionVersion> version(String tenant, String name, int version) {
        return jdbc.query("SELECT " + VERSION_COLUMNS + " FROM intervention_versions "
                + "WHERE tenant = ? AND name = ? AND version = ?", VERSION, tenant, name, version).stream().findFirst();
    }

    @Override
    public Optional<InterventionVersion> latest(String tenant, String name) {
        return jdbc.query("SELECT " + VERSION_COLUMNS + " FROM intervention_versions WHERE tenant = ? AND name = ? "
                + "ORDER BY version DESC LIMIT 1", VERSION, tenant, name).stream().findFirst();
    }

    @Override
    public Optional<byte[]> bundle(String tenant, String name, int version) {
        return jdbc.query("SELECT bundle FROM intervention_versions WHERE tenant = ? AND name = ? AND version = ?",
                (rs, i) -> rs.getBytes(1), tenant, name, version).stream().findFirst();
    }

    @Override
    public boolean deleteVersion(String tenant, String name, int version) {
        return inTx(() -> {
            refuseIfRouted(tenant, name, version);
            boolean deleted;
            try {
                deleted = jdbc.update("DELETE FROM intervention_versions WHERE tenant = ? AND name = ? "
                        + "AND version = ?", tenant, name, version) > 0;
            } catch (DataIntegrityViolationException e) {
                // A task on another replica took a route to it after our check: the foreign key refused.
                throw new InterventionInUseException(name + "@" + version, null);
            }
            if (deleted) {
                notifyOthers(new RegistryChange(RegistryChange.Kind.VERSION_DELETED, tenant, name, version));
            }
            return deleted;
        });
    }

    @Override
    public int deleteIntervention(String tenant, String name) {
        return inTx(() -> {
            refuseIfRouted(tenant, name, null);
            List<Integer> versions;
            try {
                versions = jdbc.queryForList("DELETE FROM intervention_versions WHERE tenant = ? AND name = ? "
                        + "RETURNING version", Integer.class, tenant, name);
            } catch (DataIntegrityViolationException e) {
                throw new InterventionInUseException(name, null);
            }
            for (int v : versions) {
                notifyOthers(new RegistryChange(RegistryChange.Kind.VERSION_DELETED, tenant, name, v));
            }
            return versions.size();
        });
    }

    /**
     * Serializes the quota-checked writes of one tenant, across replicas, until the transaction ends: two uploads
     * racing for the last unit of a quota see each other's rows. (Advisory key space 0x52454654, "REFT".)
     */
    private void lockQuotas(String tenant) {
        jdbc.query("SELECT pg_advisory_xact_lock(1380271700, hashtext(?))", rs -> null, tenant);
    }

    private void refuseIfRouted(String tenant, String name, Integer version) {
        List<String[]> routed = jdbc.query("SELECT task, version FROM task_routes WHERE tenant = ? AND name = ? "
                        + "AND (CAST(? AS integer) IS NULL OR version = ?) ORDER BY task LIMIT 1",
                (rs, i) -> new String[] {rs.getString(1), Integer.toString(rs.getInt(2))}, tenant, name, version,
                version);
        if (!routed.isEmpty()) {
            throw new InterventionInUseException(name + "@" + routed.get(0)[1], routed.get(0)[0]);
        }
    }

    // ---- tasks

    @Override
    public Task putTask(String tenant, String name, List<Route> routes) {
        Task task = new Task(tenant, name, routes, EmbeddedStore.now());
        quotas.checkRoutes(routes.size());
        return inTx(() -> {
            lockQuotas(tenant);
            if (jdbc.query("SELECT 1 FROM tasks WHERE tenant = ? AND name = ?", (rs, i) -> 1, tenant, name)
                    .isEmpty()) {
                quotas.checkNewTask(tenant, jdbc.queryForObject("SELECT count(*) FROM tasks WHERE tenant = ?",
                        Long.class, tenant));
            }
            for (Route r : routes) {
                // KEY SHARE locks the version against a concurrent delete until this transaction ends.
                if (jdbc.query("SELECT 1 FROM intervention_versions WHERE tenant = ? AND name = ? AND version = ? "
                        + "FOR KEY SHARE", (rs, i) -> 1, tenant, r.name(), r.version()).isEmpty()) {
                    throw new UnknownRouteException(r.id());
                }
            }
            jdbc.update("INSERT INTO tasks (tenant, name, updated_at) VALUES (?, ?, ?) ON CONFLICT (tenant, name) "
                    + "DO UPDATE SET updated_at = excluded.updated_at", tenant, name,
                    Timestamp.from(task.updatedAt()));
            jdbc.update("DELETE FROM task_routes WHERE tenant = ? AND task = ?", tenant, name);
            for (int i = 0; i < routes.size(); i++) {
                Route r = routes.get(i);
                jdbc.update("INSERT INTO task_routes (tenant, task, position, name, version, weight) "
                        + "VALUES (?, ?, ?, ?, ?, ?)", tenant, name, i, r.name(), r.version(), r.weight());
            }
            notifyOthers(new RegistryChange(RegistryChange.Kind.TASK_CHANGED, tenant, name, 0));
            return task;
        });
    }

    @Override
    public Optional<Task> task(String tenant, String name) {
        return tasksWhere("t.tenant = ? AND t.name = ?", tenant, name).stream().findFirst();
    }

    @Override
    public List<Task> tasks(String tenant) {
        return tasksWhere("t.tenant = ?", tenant);
    }

    private List<Task> tasksWhere(String where, Object... args) {
        Map<String, List<Route>> routes = new LinkedHashMap<>();
        Map<String, Timestamp> updated = new LinkedHashMap<>();
        Map<String, String> tenants = new LinkedHashMap<>();
        jdbc.query("SELECT t.tenant, t.name, t.updated_at, r.name AS route, r.version, r.weight FROM tasks t "
                + "LEFT JOIN task_routes r ON r.tenant = t.tenant AND r.task = t.name WHERE " + where
                + " ORDER BY t.name, r.position", rs -> {
                    String task = rs.getString("name");
                    tenants.put(task, rs.getString("tenant"));
                    updated.put(task, rs.getTimestamp("updated_at"));
                    List<Route> list = routes.computeIfAbsent(task, k -> new ArrayList<>());
                    if (rs.getString("route") != null) {
                        list.add(new Route(rs.getString("route"), rs.getInt("version"), rs.getInt("weight")));
                    }
                }, args);
        List<Task> out = new ArrayList<>();
        routes.forEach((task, list) -> out.add(
                new Task(tenants.get(task), task, list, updated.get(task).toInstant())));
        return out;
    }

    @Override
    public boolean deleteTask(String tenant, String name) {
        return inTx(() -> {
            boolean deleted = jdbc.update("DELETE FROM tasks WHERE tenant = ? AND name = ?", tenant, name) > 0;
            if (deleted) {
                notifyOthers(new RegistryChange(RegistryChange.Kind.TASK_CHANGED, tenant, name, 0));
            }
            return deleted;
        });
    }

    // ---- change notification

    // ---- fine-tuning files and jobs

    /** A file not expired at the time given as the next parameter. */
    private static final String LIVE_FILE = "(expires_at IS NULL OR expires_at > ?)";
    private static final String FILE_COLUMNS = "id, tenant, filename, purpose, bytes, created_at, expires_at";
    private static final String JOB_COLUMNS = "id, tenant, created_at, request, examples, total_steps, status, "
            + "steps_done, trained_tokens, fine_tuned_model, error_code, error_message, error_param, finished_at, "
            + "owner";
    private static final String UNFINISHED = "status NOT IN ('succeeded', 'failed', 'cancelled')";

    @Override
    public StoredFile addFile(StoredFile file, byte[] content) {
        Names.requireSafeId(file.id());
        jdbc.update("INSERT INTO training_files (" + FILE_COLUMNS + ", content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                file.id(), file.tenant(), file.filename(), file.purpose(), file.bytes(),
                Timestamp.from(file.createdAt()),
                file.expiresAt() == null ? null : Timestamp.from(file.expiresAt()), content);
        return file;
    }

    @Override
    public List<StoredFile> files(String tenant) {
        return jdbc.query("SELECT " + FILE_COLUMNS + " FROM training_files WHERE tenant = ? AND " + LIVE_FILE
                + " ORDER BY created_at DESC, id", FILE, tenant, Timestamp.from(Instant.now()));
    }

    @Override
    public Optional<StoredFile> file(String tenant, String id) {
        return jdbc.query("SELECT " + FILE_COLUMNS + " FROM training_files WHERE tenant = ? AND id = ? AND "
                + LIVE_FILE, FILE, tenant, id, Timestamp.from(Instant.now())).stream().findFirst();
    }

    @Override
    public Optional<byte[]> fileContent(String tenant, String id) {
        return jdbc.query("SELECT content FROM training_files WHERE tenant = ? AND id = ? AND " + LIVE_FILE,
                (rs, i) -> rs.getBytes(1), tenant, id, Timestamp.from(Instant.now())).stream().findFirst();
    }

    @Override
    public boolean deleteFile(String tenant, String id) {
        return jdbc.update("DELETE FROM training_files WHERE tenant = ? AND id = ?", tenant, id) > 0;
    }

    @Override
    public List<String> deleteExpiredFiles(Instant now) {
        return jdbc.query("DELETE FROM training_files WHERE expires_at <= ? RETURNING id", (rs, i) -> rs.getString(1),
                Timestamp.from(now));
    }

    @Override
    public void putJob(StoredJob job) {
        Names.requireSafeId(job.id());
        StoredJob.Error e = job.error();
        int n = jdbc.update("INSERT INTO fine_tuning_jobs (" + JOB_COLUMNS + ", heartbeat_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()) ON CONFLICT (id) DO UPDATE SET "
                + "request = excluded.request, examples = excluded.examples, total_steps = excluded.total_steps, "
                + "status = excluded.status, steps_done = excluded.steps_done, "
                + "trained_tokens = excluded.trained_tokens, fine_tuned_model = excluded.fine_tuned_model, "
                + "error_code = excluded.error_code, error_message = excluded.error_message, "
                + "error_param = excluded.error_param, finished_at = excluded.finished_at, owner = excluded.owner, "
                + "heartbeat_at = now() WHERE fine_tuning_jobs.tenant = excluded.tenant",
                job.id(), job.tenant(), Timestamp.from(job.createdAt()), job.request(), job.examples(),
                job.totalSteps(), job.status(), job.stepsDone(), job.trainedTokens(), job.fineTunedModel(),
                e == null ? null : e.code(), e == null ? null : e.message(), e == null ? null : e.param(),
                job.finishedAt() == null ? null : Timestamp.from(job.finishedAt()), job.owner());
        if (n == 0) {
            throw new IllegalStateException("job id " + job.id() + " belongs to another tenant");
        }
    }

    @Override
    public JobWrite updateJob(StoredJob job, byte[] trainingState) {
        StoredJob.Error e = job.error();
        // A finished job needs no state; null keeps the one stored.
        List<JobWrite> cancel = jdbc.query("UPDATE fine_tuning_jobs SET status = ?, steps_done = ?, "
                + "trained_tokens = ?, fine_tuned_model = ?, error_code = ?, error_message = ?, error_param = ?, "
                + "finished_at = ?, heartbeat_at = now(), "
                + "training_state = CASE WHEN ? THEN NULL ELSE COALESCE(?, training_state) END, "
                + "pause_requested = CASE WHEN ? = 'paused' THEN false ELSE pause_requested END "
                + "WHERE id = ? AND tenant = ? AND owner = ? AND " + UNFINISHED
                + " RETURNING cancel_requested, pause_requested",
                (rs, i) -> rs.getBoolean(1) ? JobWrite.CANCEL_REQUESTED
                        : rs.getBoolean(2) ? JobWrite.PAUSE_REQUESTED : JobWrite.WRITTEN,
                job.status(), job.stepsDone(), job.trainedTokens(), job.fineTunedModel(),
                e == null ? null : e.code(), e == null ? null : e.message(), e == null ? null : e.param(),
                job.finishedAt() == null ? null : Timestamp.from(job.finishedAt()), job.terminal(), trainingState,
                job.status(), job.id(), job.tenant(), job.owner());
        return cancel.isEmpty() ? JobWrite.REFUSED : cancel.get(0);
    }

    @Override
    public Optional<byte[]> jobTrainingState(String tenant, String id) {
        return jdbc.query("SELECT training_state FROM fine_tuning_jobs WHERE tenant = ? AND id = ?",
                (rs, i) -> rs.getBytes(1), tenant, id).stream().filter(java.util.Objects::nonNull).findFirst();
    }

    @Override
    public void heartbeatJobs(String owner, Collection<String> ids) {
        if (ids.isEmpty()) {
            return;
        }
        List<Object> args = new ArrayList<>(ids.size() + 1);
        args.add(owner);
        args.addAll(ids);
        jdbc.update("UPDATE fine_tuning_jobs SET heartbeat_at = now() WHERE owner = ? AND " + UNFINISHED
                + " AND id IN (" + String.join(", ", Collections.nCopies(ids.size(), "?")) + ")",
                args.toArray());
    }

    @Override
    public JobCancel cancelJob(String tenant, String id, Instant now) {
        if (jdbc.update("UPDATE fine_tuning_jobs SET status = 'cancelled', finished_at = ?, cancel_requested = true, "
                + "training_state = NULL "
                + "WHERE tenant = ? AND id = ? AND status IN ('validating_files', 'queued', 'paused')",
                Timestamp.from(now), tenant, id) > 0) {
            return JobCancel.CANCELLED;
        }
        if (jdbc.update("UPDATE fine_tuning_jobs SET cancel_requested = true WHERE tenant = ? AND id = ? AND "
                + UNFINISHED, tenant, id) > 0) {
            return JobCancel.REQUESTED;
        }
        return job(tenant, id).isPresent() ? JobCancel.FINISHED : JobCancel.UNKNOWN;
    }

    @Override
    public List<StoredJob> claimAbandonedJobs(Duration lease, String claimant, int max) {
        if (max <= 0) {
            return List.of();
        }
        // The database's clock judges the lease, as it stamped the heartbeats; SKIP LOCKED keeps two replicas
        // claiming at once from taking the same job.
        String stale = UNFINISHED + " AND status <> 'paused' AND (owner IS NULL OR owner <> ?) AND (heartbeat_at IS "
                + "NULL OR heartbeat_at < "
                + "now() - make_interval(secs => ?))";
        double seconds = lease.toMillis() / 1000.0;
        List<StoredJob> claimed = new ArrayList<>(jdbc.query("UPDATE fine_tuning_jobs SET owner = ?, heartbeat_at = "
                + "now() WHERE id IN (SELECT id FROM fine_tuning_jobs WHERE " + stale + " ORDER BY created_at, id "
                + "LIMIT ? FOR UPDATE SKIP LOCKED) AND " + stale + " RETURNING " + JOB_COLUMNS, JOB, claimant,
                claimant, seconds, max, claimant, seconds));
        claimed.sort(Comparator.comparing(StoredJob::createdAt).thenComparing(StoredJob::id));
        return claimed;
    }

    @Override
    public JobPause pauseJob(String tenant, String id) {
        // A job not started is no replica's once paused: the replica that queued it finds its start refused.
        if (jdbc.update("UPDATE fine_tuning_jobs SET status = 'paused', owner = NULL, heartbeat_at = NULL "
                + "WHERE tenant = ? AND id = ? AND status IN ('validating_files', 'queued')", tenant, id) > 0) {
            return JobPause.DONE;
        }
        if (jdbc.update("UPDATE fine_tuning_jobs SET pause_requested = true WHERE tenant = ? AND id = ? AND "
                + "status = 'running'", tenant, id) > 0) {
            return JobPause.REQUESTED;
        }
        return job(tenant, id).isPresent() ? JobPause.NOT_APPLICABLE : JobPause.UNKNOWN;
    }

    @Override
    public JobPause resumeJob(String tenant, String id) {
        if (jdbc.update("UPDATE fine_tuning_jobs SET status = 'queued', owner = NULL, heartbeat_at = NULL, "
                + "pause_requested = false WHERE tenant = ? AND id = ? AND status = 'paused'", tenant, id) > 0) {
            return JobPause.DONE;
        }
        return job(tenant, id).isPresent() ? JobPause.NOT_APPLICABLE : JobPause.UNKNOWN;
    }

    @Override
    public void releaseJobs(String owner) {
        jdbc.update("UPDATE fine_tuning_jobs SET owner = NULL, heartbeat_at = NULL WHERE owner = ? AND " + UNFINISHED,
                owner);
    }

    @Override
    public List<StoredJob> jobs(String tenant) {
        return jdbc.query("SELECT " + JOB_COLUMNS + " FROM fine_tuning_jobs WHERE tenant = ? "
                + "ORDER BY created_at DESC, id", JOB, tenant);
    }

    @Override
    public Optional<StoredJob> job(String tenant, String id) {
        return jdbc.query("SELECT " + JOB_COLUMNS + " FROM fine_tuning_jobs WHERE tenant = ? AND id = ?", JOB,
                tenant, id).stream().findFirst();
    }

    @Override
    public List<StoredJob> unfinishedJobs() {
        return jdbc.query("SELECT " + JOB_COLUMNS + " FROM fine_tuning_jobs "
                + "WHERE " + UNFINISHED + " ORDER BY created_at, id", JOB);
    }

    @Override
    public void addJobEvent(String tenant, StoredJobEvent event) {
        String insert = "INSERT INTO fine_tuning_events (job_id, seq, created_at, level, message, type, data) "
                + "SELECT id, %s, ?, ?, ?, ?, ? FROM fine_tuning_jobs WHERE id = ? AND tenant = ?";
        Object[] values = {Timestamp.from(event.createdAt()), event.level(), event.message(), event.type(),
                event.data(), event.jobId(), tenant};
        int n;
        try {
            n = jdbc.update(insert.formatted(event.seq()), values);
        } catch (DuplicateKeyException taken) {
            // Another replica wrote this job's event of that number (failing a job whose replica fell silent
            // while that replica still wrote): this one goes after it.
            n = jdbc.update(insert.formatted("(SELECT COALESCE(MAX(seq), -1) + 1 FROM fine_tuning_events WHERE "
                    + "job_id = fine_tuning_jobs.id)"), values);
        }
        if (n == 0) {
            throw new IllegalArgumentException("no job " + event.jobId() + " of tenant " + tenant);
        }
    }

    @Override
    public List<StoredJobEvent> jobEvents(String tenant, String jobId, int from) {
        return jdbc.query("SELECT e.* FROM fine_tuning_events e JOIN fine_tuning_jobs j ON j.id = e.job_id "
                + "WHERE j.tenant = ? AND e.job_id = ? AND e.seq >= ? ORDER BY e.seq",
                (rs, i) -> new StoredJobEvent(rs.getString("job_id"), rs.getInt("seq"),
                        rs.getTimestamp("created_at").toInstant(), rs.getString("level"), rs.getString("message"),
                        rs.getString("type"), rs.getString("data")), tenant, jobId, from);
    }

    @Override
    public void addListener(Consumer<RegistryChange> listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        running = false;
        listenerThread.interrupt();
        try {
            listenerThread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs {@code work} in a transaction, then tells this replica's listeners of what it recorded. */
    private <T> T inTx(java.util.function.Supplier<T> work) {
        List<RegistryChange> pending = new ArrayList<>();
        T result = tx.execute(status -> {
            pendingChanges.set(pending);
            try {
                return work.get();
            } finally {
                pendingChanges.remove();
            }
        });
        pending.forEach(this::fire);
        return result;
    }

    private final ThreadLocal<List<RegistryChange>> pendingChanges = new ThreadLocal<>();

    /** Queues the change for other replicas (delivered at commit) and for this replica's listeners. */
    private Void notifyOthers(RegistryChange change) {
        String payload = String.join("|", origin, change.kind().name(), enc(change.tenant()), enc(change.name()),
                Integer.toString(change.version()));
        jdbc.query("SELECT pg_notify(?, ?)", rs -> null, CHANNEL, payload);
        pendingChanges.get().add(change);
        return null;
    }

    private void listen() {
        boolean connectedBefore = false;
        while (running) {
            try (Connection con = dataSource.getConnection()) {
                con.setAutoCommit(true);
                try (Statement st = con.createStatement()) {
                    st.execute("LISTEN " + CHANNEL);
                }
                PGConnection pg = con.unwrap(PGConnection.class);
                if (connectedBefore) {
                    // Changes made while we were deaf are lost: everyone forgets everything.
                    fire(RegistryChange.all());
                }
                connectedBefore = true;
                firstListen.countDown();
                while (running) {
                    PGNotification[] notes = pg.getNotifications(POLL_MS);
                    if (notes == null) {
                        continue;
                    }
                    for (PGNotification n : notes) {
                        RegistryChange change = parse(n.getParameter());
                        if (change != null) {
                            fire(change);
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                if (!running) {
                    return;
                }
                log.warn("registry change listener lost its connection; reconnecting", e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private RegistryChange parse(String payload) {
        String[] p = payload.split("\\|", -1);
        if (p.length != 5 || p[0].equals(origin)) {
            return null; // our own change: listeners heard it at commit
        }
        try {
            return new RegistryChange(RegistryChange.Kind.valueOf(p[1]), dec(p[2]), dec(p[3]),
                    Integer.parseInt(p[4]));
        } catch (IllegalArgumentException e) {
            log.warn("ignoring a malformed registry notification: {}", payload);
            return null;
        }
    }

    private void fire(RegistryChange change) {
        for (Consumer<RegistryChange> l : listeners) {
            try {
                l.accept(change);
            } catch (RuntimeException e) {
                log.warn("registry listener failed on {}", change, e);
            }
        }
    }

    private static String enc(String s) {
        return s == null ? "" : URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static String dec(String s) {
        return s.isEmpty() ? null : URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private String newKeyId() {
        byte[] b = new byte[8];
        random.nextBytes(b);
        return "key_" + HexFormat.of().formatHex(b);
    }

    // ---- row mappers

    private static final RowMapper<StoredFile> FILE = (rs, i) -> new StoredFile(rs.getString("id"),
            rs.getString("tenant"), rs.getString("filename"), rs.getString("purpose"), rs.getLong("bytes"),
            rs.getTimestamp("created_at").toInstant(),
            rs.getTimestamp("expires_at") == null ? null : rs.getTimestamp("expires_at").toInstant());

    private static final RowMapper<StoredJob> JOB = (rs, i) -> {
        Timestamp finished = rs.getTimestamp("finished_at");
        String code = rs.getString("error_code");
        return new StoredJob(rs.getString("id"), rs.getString("tenant"), rs.getTimestamp("created_at").toInstant(),
                rs.getString("request"), rs.getInt("examples"), rs.getInt("total_steps"), rs.getString("status"),
                rs.getInt("steps_done"), rs.getLong("trained_tokens"), rs.getString("fine_tuned_model"),
                code == null ? null
                        : new StoredJob.Error(code, rs.getString("error_message"), rs.getString("error_param")),
                finished == null ? null : finished.toInstant(), rs.getString("owner"));
    };

    private static final RowMapper<Tenant> TENANT = (rs, i) -> new Tenant(rs.getString("name"),
            rs.getTimestamp("created_at").toInstant(),
            new RateLimits(nullableLong(rs, "requests_per_minute"), nullableLong(rs, "tokens_per_minute")));

    private static final RowMapper<ApiKeyRecord> KEY = (rs, i) -> new ApiKeyRecord(rs.getString("id"),
            rs.getString("tenant"), rs.getBytes("key_hash"), rs.getTimestamp("created_at").toInstant());

    private static final RowMapper<InterventionVersion> VERSION = (rs, i) -> new InterventionVersion(
            rs.getString("tenant"), rs.getString("name"), rs.getInt("version"),
            new BundleSummary(rs.getString("type"), layers(rs.getArray("layers")), rs.getInt("rank"),
                    rs.getString("positions"), rs.getBoolean("share_weights"), rs.getInt("interventions")),
            rs.getString("sha256"), rs.getLong("size"), rs.getTimestamp("created_at").toInstant());

    private static Long nullableLong(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : v;
    }

    private static List<Integer> layers(Array array) throws SQLException {
        return List.copyOf(Arrays.asList((Integer[]) array.getArray()));
    }
}

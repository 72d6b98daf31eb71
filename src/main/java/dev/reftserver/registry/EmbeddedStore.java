package dev.reftserver.registry;

import dev.reftserver.intervention.BundleSummary;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * The default store: files under one directory.
 *
 * <pre>
 * registry.json        all metadata (tenants, key hashes, versions, tasks), rewritten whole on each change
 * bundles/&lt;uuid&gt;.zip   one file per version, never modified
 * training.json        fine-tuning files' and jobs' metadata, rewritten whole on each change (absent until used)
 * files/&lt;id&gt;.jsonl     one fine-tuning file's content, never modified
 * events/&lt;job&gt;.jsonl   one job's events, one JSON object a line, appended (a torn last line is skipped)
 * job-state/&lt;job&gt;.bin  an unfinished job's training state, rewritten whole (atomically) as it trains
 * </pre>
 *
 * Every file is written to a temp file in its own directory, fsynced, renamed over the target atomically and
 * the directory fsynced, so a crash (kill -9, power loss) leaves the old or the new file, never half of one.
 * A version's bundle file is durable before the metadata that names it, so a visible version always has its
 * bytes. Startup removes stray temp files and bundle files no metadata names (a crash between the two writes).
 * Readers see an immutable snapshot; writers are serialized.
 */
public final class EmbeddedStore implements RegistryStore {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedStore.class);
    private static final String STATE_FILE = "registry.json";
    private static final String TEMP_SUFFIX = ".tmp";
    private static final String TRAINING_FILE = "training.json";

    /** What registry.json holds. {@code lastVersions} outlives deletions so numbers are never reused. */
    record State(List<Tenant> tenants, List<ApiKeyRecord> keys, List<StoredVersion> versions,
            List<LastVersion> lastVersions, List<Task> tasks) {

        static State empty() {
            return new State(List.of(), List.of(), List.of(), List.of(), List.of());
        }
    }

    record StoredVersion(InterventionVersion meta, String file) {
    }

    record LastVersion(String tenant, String name, int version) {
    }

    /** What training.json holds; a file of its own so registry.json keeps its format. */
    record TrainingState(List<StoredFile> files, List<StoredJob> jobs) {

        static TrainingState empty() {
            return new TrainingState(List.of(), List.of());
        }
    }

    private final Path root;
    private final Path bundleDir;
    private final JsonMapper json = JsonMapper.builder().build();
    private final SecureRandom random = new SecureRandom();
    private final Object writeLock = new Object();
    private final List<Consumer<RegistryChange>> listeners = new CopyOnWriteArrayList<>();
    private final FileChannel lockChannel;
    private final Quotas quotas;
    private volatile State state;
    private final Path fileDir;
    private final Path eventDir;
    private final Path jobStateDir;
    /** Jobs whose cancel was asked through {@link #cancelJob} (this process only; a restart fails them anyway). */
    private final Set<String> cancelAsked = ConcurrentHashMap.newKeySet();
    /** Running jobs whose pause was asked through {@link #pauseJob}, until their replica writes them paused. */
    private final Set<String> pauseAsked = ConcurrentHashMap.newKeySet();
    private final Object trainingLock = new Object();
    private volatile TrainingState training;

    /**
     * Opens (creating if needed) the store at {@code root}, which one open store at a time may use.
     *
     * @throws IllegalStateException if another open store, in this process or another, holds the directory
     */
    public EmbeddedStore(Path root) {
        this(root, Quotas.DEFAULTS);
    }

    /** As {@link #EmbeddedStore(Path)}, enforcing {@code quotas} on every write. */
    public EmbeddedStore(Path root, Quotas quotas) {
        this.quotas = quotas;
        this.root = root.toAbsolutePath();
        this.bundleDir = this.root.resolve("bundles");
        this.fileDir = this.root.resolve("files");
        this.eventDir = this.root.resolve("events");
        this.jobStateDir = this.root.resolve("job-state");
        try {
            Files.createDirectories(bundleDir);
            Files.createDirectories(fileDir);
            Files.createDirectories(eventDir);
            Files.createDirectories(jobStateDir);
            lockChannel = lock(this.root);
            removeTempFiles(this.root);
            removeTempFiles(bundleDir);
            Path stateFile = this.root.resolve(STATE_FILE);
            state = Files.exists(stateFile) ? json.readValue(Files.readAllBytes(stateFile), State.class)
                    : State.empty();
            removeUnreferencedBundles();
            removeTempFiles(fileDir);
            removeTempFiles(jobStateDir);
            Path trainingFile = this.root.resolve(TRAINING_FILE);
            training = Files.exists(trainingFile)
                    ? json.readValue(Files.readAllBytes(trainingFile), TrainingState.class) : TrainingState.empty();
            removeUnreferencedTrainingFiles();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the registry store at " + this.root, e);
        }
        log.info("registry store: {} ({} tenants, {} intervention versions)", this.root, state.tenants().size(),
                state.versions().size());
    }

    private static FileChannel lock(Path root) throws IOException {
        FileChannel ch = FileChannel.open(root.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            if (ch.tryLock() != null) {
                return ch; // the OS releases the lock when the process dies, however it dies
            }
        } catch (OverlappingFileLockException e) {
            // held by another store in this process
        }
        ch.close();
        throw new IllegalStateException("registry store " + root + " is in use by another open store "
                + "(give each server, or each test application context, its own reft.store.path)");
    }

    @Override
    public void close() {
        try {
            lockChannel.close();
        } catch (IOException e) {
            log.warn("cannot release the lock of {}", root, e);
        }
    }

    // ---- tenants and keys

    @Override
    public Tenant createTenant(String name, RateLimits limits) {
        synchronized (writeLock) {
            State s = state;
            if (s.tenants().stream().anyMatch(t -> t.name().equals(name))) {
                throw new TenantExistsException(name);
            }
            Tenant tenant = new Tenant(name, now(), limits);
            List<Tenant> tenants = new ArrayList<>(s.tenants());
            tenants.add(tenant);
            tenants.sort(Comparator.comparing(Tenant::name));
            commit(new State(tenants, s.keys(), s.versions(), s.lastVersions(), s.tasks()),
                    new RegistryChange(RegistryChange.Kind.TENANT_CREATED, name, null, 0));
            return tenant;
        }
    }

    @Override
    public Optional<Tenant> tenant(String name) {
        return state.tenants().stream().filter(t -> t.name().equals(name)).findFirst();
    }

    @Override
    public List<Tenant> tenants() {
        return state.tenants();
    }

    @Override
    public boolean hasTenants() {
        return !state.tenants().isEmpty();
    }

    @Override
    public Tenant updateLimits(String name, RateLimits limits) {
        synchronized (writeLock) {
            State s = state;
            Tenant old = tenant(name).orElseThrow(() -> new UnknownTenantException(name));
            Tenant updated = new Tenant(name, old.createdAt(), limits);
            List<Tenant> tenants = s.tenants().stream().map(t -> t.name().equals(name) ? updated : t).toList();
            commit(new State(tenants, s.keys(), s.versions(), s.lastVersions(), s.tasks()),
                    new RegistryChange(RegistryChange.Kind.TENANT_UPDATED, name, null, 0));
            return updated;
        }
    }

    @Override
    public boolean deleteTenant(String name) {
        List<StoredVersion> gone;
        boolean existed;
        synchronized (writeLock) {
            State s = state;
            existed = tenant(name).isPresent();
            gone = s.versions().stream().filter(v -> v.meta().tenant().equals(name)).toList();
            commit(new State(
                            without(s.tenants(), t -> t.name().equals(name)),
                            without(s.keys(), k -> k.tenant().equals(name)),
                            without(s.versions(), v -> v.meta().tenant().equals(name)),
                            without(s.lastVersions(), l -> l.tenant().equals(name)),
                            without(s.tasks(), t -> t.tenant().equals(name))),
                    new RegistryChange(RegistryChange.Kind.TENANT_DELETED, name, null, 0));
        }
        gone.forEach(v -> deleteQuietly(bundleDir.resolve(v.file())));
        List<StoredFile> goneFiles;
        List<StoredJob> goneJobs;
        synchronized (trainingLock) {
            TrainingState t = training;
            goneFiles = t.files().stream().filter(f -> f.tenant().equals(name)).toList();
            goneJobs = t.jobs().stream().filter(j -> j.tenant().equals(name)).toList();
            if (!goneFiles.isEmpty() || !goneJobs.isEmpty()) {
                writeTraining(new TrainingState(without(t.files(), f -> f.tenant().equals(name)),
                        without(t.jobs(), j -> j.tenant().equals(name))));
            }
        }
        goneFiles.forEach(f -> deleteQuietly(fileDir.resolve(f.id() + ".jsonl")));
        goneJobs.forEach(j -> deleteQuietly(eventDir.resolve(j.id() + ".jsonl")));
        goneJobs.forEach(j -> deleteQuietly(jobStateDir.resolve(j.id() + ".bin")));
        return existed;
    }

    @Override
    public ApiKeyRecord addKey(String tenant, byte[] keyHash) {
        synchronized (writeLock) {
            State s = state;
            if (tenant(tenant).isEmpty()) {
                throw new UnknownTenantException(tenant);
            }
            ApiKeyRecord key = new ApiKeyRecord(newKeyId(), tenant, keyHash.clone(), now());
            List<ApiKeyRecord> keys = new ArrayList<>(s.keys());
            keys.add(key);
            commit(new State(s.tenants(), keys, s.versions(), s.lastVersions(), s.tasks()),
                    new RegistryChange(RegistryChange.Kind.KEYS_CHANGED, tenant, key.id(), 0));
            return key;
        }
    }

    @Override
    public Optional<ApiKeyRecord> keyByHash(byte[] keyHash) {
        // Hashes are compared whole and in constant time; the caller's key never meets a stored key.
        ApiKeyRecord found = null;
        for (ApiKeyRecord k : state.keys()) {
            if (MessageDigest.isEqual(k.keyHash(), keyHash)) {
                found = k;
            }
        }
        return Optional.ofNullable(found);
    }

    @Override
    public List<ApiKeyRecord> keys(String tenant) {
        return state.keys().stream().filter(k -> k.tenant().equals(tenant)).toList();
    }

    @Override
    public boolean deleteKey(String tenant, String keyId) {
        synchronized (writeLock) {
            State s = state;
            Predicate<ApiKeyRecord> match = k -> k.tenant().equals(tenant) && k.id().equals(keyId);
            if (s.keys().stream().noneMatch(match)) {
                return false;
            }
            commit(new State(s.tenants(), without(s.keys(), match), s.versions(), s.lastVersions(), s.tasks()),
                    new RegistryChange(RegistryChange.Kind.KEYS_CHANGED, tenant, keyId, 0));
            return true;
        }
    }

    // ---- intervention versions

    @Override
    public InterventionVersion addVersion(String tenant, String name, BundleSummary summary, byte[] bundle) {
        // Checked first on the snapshot so an upload over quota is never written, then again under the lock.
        checkNewVersion(state, tenant, name, bundle.length);
        String file = UUID.randomUUID() + ".zip";
        Path path = bundleDir.resolve(file);
        // The bytes are durable before any metadata names them: a crash here leaves only an orphan file.
        writeAtomically(path, bundle);
        String sha = Sha256.hex(bundle);
        try {
            synchronized (writeLock) {
                State s = state;
                checkNewVersion(s, tenant, name, bundle.length);
                int version = s.lastVersions().stream()
                        .filter(l -> l.tenant().equals(tenant) && l.name().equals(name))
                        .mapToInt(LastVersion::version).findFirst().orElse(0) + 1;
                InterventionVersion meta =
                        new InterventionVersion(tenant, name, version, summary, sha, bundle.length, now());
                List<StoredVersion> versions = new ArrayList<>(s.versions());
                versions.add(new StoredVersion(meta, file));
                versions.sort(Comparator.comparing((StoredVersion v) -> v.meta().tenant())
                        .thenComparing(v -> v.meta().name()).thenComparingInt(v -> v.meta().version()));
                List<LastVersion> last =
                        without(s.lastVersions(), l -> l.tenant().equals(tenant) && l.name().equals(name));
                last.add(new LastVersion(tenant, name, version));
                commit(new State(s.tenants(), s.keys(), versions, last, s.tasks()),
                        new RegistryChange(RegistryChange.Kind.VERSION_ADDED, tenant, name, version));
                return meta;
            }
        } catch (RuntimeException e) {
            deleteQuietly(path);
            throw e;
        }
    }

    @Override
    public List<InterventionVersion> versions(String tenant) {
        return state.versions().stream().map(StoredVersion::meta).filter(v -> v.tenant().equals(tenant)).toList();
    }

    @Override
    public List<InterventionVersion> versions(String tenant, String name) {
        return state.versions().stream().map(StoredVersion::meta)
                .filter(v -> v.tenant().equals(tenant) && v.name().equals(name)).toList();
    }

    @Override
    public Optional<InterventionVersion> version(String tenant, String name, int version) {
        return stored(state, tenant, name, version).map(StoredVersion::meta);
    }

    @Override
    public Optional<InterventionVersion> latest(String tenant, String name) {
        List<InterventionVersion> all = versions(tenant, name);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    @Override
    public Optional<byte[]> bundle(String tenant, String name, int version) {
        Optional<StoredVersion> stored = stored(state, tenant, name, version);
        if (stored.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(Files.readAllBytes(bundleDir.resolve(stored.get().file())));
        } catch (NoSuchFileException e) {
            return Optional.empty(); // deleted since the snapshot was taken
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean deleteVersion(String tenant, String name, int version) {
        StoredVersion gone;
        synchronized (writeLock) {
            State s = state;
            Optional<StoredVersion> stored = stored(s, tenant, name, version);
            if (stored.isEmpty()) {
                return false;
            }
            gone = stored.get();
            refuseIfRouted(s, tenant, name, v -> v == version);
            commit(new State(s.tenants(), s.keys(), without(s.versions(), v -> v == gone), s.lastVersions(),
                    s.tasks()), new RegistryChange(RegistryChange.Kind.VERSION_DELETED, tenant, name, version));
        }
        deleteQuietly(bundleDir.resolve(gone.file()));
        return true;
    }

    @Override
    public int deleteIntervention(String tenant, String name) {
        List<StoredVersion> gone;
        synchronized (writeLock) {
            State s = state;
            Predicate<StoredVersion> match = v -> v.meta().tenant().equals(tenant) && v.meta().name().equals(name);
            gone = s.versions().stream().filter(match).toList();
            if (gone.isEmpty()) {
                return 0;
            }
            refuseIfRouted(s, tenant, name, v -> true);
            State next = new State(s.tenants(), s.keys(), without(s.versions(), match), s.lastVersions(),
                    s.tasks());
            writeState(next);
            state = next;
            gone.forEach(v -> fire(new RegistryChange(RegistryChange.Kind.VERSION_DELETED, tenant, name,
                    v.meta().version())));
        }
        gone.forEach(v -> deleteQuietly(bundleDir.resolve(v.file())));
        return gone.size();
    }

    // ---- tasks

    @Override
    public Task putTask(String tenant, String name, List<Route> routes) {
        quotas.checkRoutes(routes.size());
        synchronized (writeLock) {
            State s = state;
            if (task(tenant, name).isEmpty()) {
                quotas.checkNewTask(tenant, s.tasks().stream().filter(t -> t.tenant().equals(tenant)).count());
            }
            for (Route r : routes) {
                if (stored(s, tenant, r.name(), r.version()).isEmpty()) {
                    throw new UnknownRouteException(r.id());
                }
            }
            Task task = new Task(tenant, name, routes, now());
            List<Task> tasks = without(s.tasks(), t -> t.tenant().equals(tenant) && t.name().equals(name));
            tasks.add(task);
            tasks.sort(Comparator.comparing(Task::tenant).thenComparing(Task::name));
            commit(new State(s.tenants(), s.keys(), s.versions(), s.lastVersions(), tasks),
                    new RegistryChange(RegistryChange.Kind.TASK_CHANGED, tenant, name, 0));
            return task;
        }
    }

    @Override
    public Optional<Task> task(String tenant, String name) {
        return state.tasks().stream().filter(t -> t.tenant().equals(tenant) && t.name().equals(name)).findFirst();
    }

    @Override
    public List<Task> tasks(String tenant) {
        return state.tasks().stream().filter(t -> t.tenant().equals(tenant)).toList();
    }

    @Override
    public boolean deleteTask(String tenant, String name) {
        synchronized (writeLock) {
            State s = state;
            Predicate<Task> match = t -> t.tenant().equals(tenant) && t.name().equals(name);
            if (s.tasks().stream().noneMatch(match)) {
                return false;
            }
            commit(new State(s.tenants(), s.keys(), s.versions(), s.lastVersions(), without(s.tasks(), match)),
                    new RegistryChange(RegistryChange.Kind.TASK_CHANGED, tenant, name, 0));
            return true;
        }
    }

    // ---- fine-tuning files and jobs

    @Override
    public StoredFile addFile(StoredFile file, byte[] content) {
        Names.requireSafeId(file.id());
        Path path = fileDir.resolve(file.id() + ".jsonl");
        writeAtomically(path, content); // durable before the metadata that names it
        try {
            synchronized (trainingLock) {
                TrainingState t = training;
                if (t.files().stream().anyMatch(f -> f.id().equals(file.id()))) {
                    throw new IllegalStateException("file id " + file.id() + " already exists");
                }
                List<StoredFile> files = new ArrayList<>(t.files());
                files.add(file);
                writeTraining(new TrainingState(files, t.jobs()));
                return file;
            }
        } catch (RuntimeException e) {
            deleteQuietly(path);
            throw e;
        }
    }

    @Override
    public List<StoredFile> files(String tenant) {
        Instant now = Instant.now();
        return training.files().stream().filter(f -> f.tenant().equals(tenant) && !f.expired(now))
                .sorted(Comparator.comparing(StoredFile::createdAt).reversed().thenComparing(StoredFile::id))
                .toList();
    }

    @Override
    public Optional<StoredFile> file(String tenant, String id) {
        Instant now = Instant.now();
        return training.files().stream().filter(f -> f.tenant().equals(tenant) && f.id().equals(id)
                && !f.expired(now)).findFirst();
    }

    @Override
    public Optional<byte[]> fileContent(String tenant, String id) {
        return file(tenant, id).isEmpty() ? Optional.empty() : readIfPresent(fileDir.resolve(id + ".jsonl"));
    }

    private static Optional<byte[]> readIfPresent(Path path) {
        try {
            return Optional.of(Files.readAllBytes(path));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean deleteFile(String tenant, String id) {
        synchronized (trainingLock) {
            TrainingState t = training;
            Predicate<StoredFile> match = f -> f.tenant().equals(tenant) && f.id().equals(id);
            if (t.files().stream().noneMatch(match)) {
                return false;
            }
            writeTraining(new TrainingState(without(t.files(), match), t.jobs()));
        }
        deleteQuietly(fileDir.resolve(id + ".jsonl"));
        return true;
    }

    @Override
    public List<String> deleteExpiredFiles(Instant now) {
        List<String> gone;
        synchronized (trainingLock) {
            TrainingState t = training;
            Predicate<StoredFile> expired = f -> f.expired(now);
            gone = t.files().stream().filter(expired).map(StoredFile::id).toList();
            if (gone.isEmpty()) {
                return gone;
            }
            writeTraining(new TrainingState(without(t.files(), expired), t.jobs()));
        }
        gone.forEach(id -> deleteQuietly(fileDir.resolve(id + ".jsonl")));
        return gone;
    }

    @Override
    public void putJob(StoredJob job) {
        Names.requireSafeId(job.id());
        synchronized (trainingLock) {
            TrainingState t = training;
            List<StoredJob> jobs = new ArrayList<>(t.jobs().size() + 1);
            boolean replaced = false;
            for (StoredJob j : t.jobs()) {
                if (j.id().equals(job.id())) {
                    if (!j.tenant().equals(job.tenant())) {
                        throw new IllegalStateException("job id " + job.id() + " belongs to another tenant");
                    }
                    jobs.add(job);
                    replaced = true;
                } else {
                    jobs.add(j);
                }
            }
            if (!replaced) {
                jobs.add(job);
            }
            writeTraining(new TrainingState(t.files(), jobs));
        }
    }

    @Override
    public JobWrite updateJob(StoredJob job, byte[] trainingState) {
        synchronized (trainingLock) {
            Optional<StoredJob> stored = job(job.tenant(), job.id());
            if (stored.isEmpty() || stored.get().terminal() || !Objects.equals(stored.get().owner(), job.owner())) {
                return JobWrite.REFUSED;
            }
            Path statePath = jobStateDir.resolve(job.id() + ".bin");
            if (trainingState != null) {
                writeAtomically(statePath, trainingState); // before the job that says how far it got
            }
            putJob(job);
            if (job.terminal()) {
                deleteQuietly(statePath);
            }
            if (job.status().equals("paused")) {
                pauseAsked.remove(job.id());
            }
            return cancelAsked.contains(job.id()) ? JobWrite.CANCEL_REQUESTED
                    : pauseAsked.contains(job.id()) ? JobWrite.PAUSE_REQUESTED : JobWrite.WRITTEN;
        }
    }

    @Override
    public Optional<byte[]> jobTrainingState(String tenant, String id) {
        return job(tenant, id).isEmpty() ? Optional.empty() : readIfPresent(jobStateDir.resolve(id + ".bin"));
    }

    /** Only this process uses the store, so its jobs are alive for as long as it runs. */
    @Override
    public void heartbeatJobs(String owner, Collection<String> ids) {
    }

    @Override
    public JobCancel cancelJob(String tenant, String id, Instant now) {
        return withJob(tenant, id, JobCancel.UNKNOWN, j -> {
            if (j.terminal()) {
                return JobCancel.FINISHED;
            }
            cancelAsked.add(id);
            if (List.of("queued", "validating_files", "paused").contains(j.status())) {
                putJob(j.cancelledAt(now));
                deleteQuietly(jobStateDir.resolve(id + ".bin"));
                return JobCancel.CANCELLED;
            }
            return JobCancel.REQUESTED;
        });
    }

    /** {@code action} on the tenant's job under the training lock, or {@code unknown} without such a job. */
    private <T> T withJob(String tenant, String id, T unknown, Function<StoredJob, T> action) {
        synchronized (trainingLock) {
            Optional<StoredJob> stored = job(tenant, id);
            return stored.isEmpty() ? unknown : action.apply(stored.get());
        }
    }

    /**
     * Only one process at a time opens the store: a job another owner (an earlier process) ran is abandoned,
     * whatever its lease.
     */
    @Override
    public List<StoredJob> claimAbandonedJobs(Duration lease, String claimant, int max) {
        synchronized (trainingLock) {
            List<StoredJob> claimed = new ArrayList<>();
            for (StoredJob j : unfinishedJobs()) {
                if (claimed.size() < max && !Objects.equals(j.owner(), claimant) && !j.status().equals("paused")) {
                    claimed.add(j.ownedBy(claimant));
                    putJob(claimed.get(claimed.size() - 1));
                }
            }
            return claimed;
        }
    }

    @Override
    public JobPause pauseJob(String tenant, String id) {
        return withJob(tenant, id, JobPause.UNKNOWN, j -> switch (j.status()) {
            case "queued", "validating_files" -> {
                putJob(j.withStatus("paused").ownedBy(null));
                yield JobPause.DONE;
            }
            case "running" -> {
                pauseAsked.add(id);
                yield JobPause.REQUESTED;
            }
            default -> JobPause.NOT_APPLICABLE;
        });
    }

    @Override
    public JobPause resumeJob(String tenant, String id) {
        return withJob(tenant, id, JobPause.UNKNOWN, j -> {
            if (!j.status().equals("paused")) {
                return JobPause.NOT_APPLICABLE;
            }
            pauseAsked.remove(id);
            putJob(j.withStatus("queued").ownedBy(null));
            return JobPause.DONE;
        });
    }

    @Override
    public void releaseJobs(String owner) {
        synchronized (trainingLock) {
            for (StoredJob j : unfinishedJobs()) {
                if (Objects.equals(j.owner(), owner)) {
                    putJob(j.ownedBy(null));
                }
            }
        }
    }

    @Override
    public List<StoredJob> jobs(String tenant) {
        return training.jobs().stream().filter(j -> j.tenant().equals(tenant))
                .sorted(Comparator.comparing(StoredJob::createdAt).reversed().thenComparing(StoredJob::id))
                .toList();
    }

    @Override
    public Optional<StoredJob> job(String tenant, String id) {
        return training.jobs().stream().filter(j -> j.tenant().equals(tenant) && j.id().equals(id)).findFirst();
    }

    @Override
    public List<StoredJob> unfinishedJobs() {
        return training.jobs().stream().filter(j -> !j.terminal())
                .sorted(Comparator.comparing(StoredJob::createdAt).thenComparing(StoredJob::id)).toList();
    }

    @Override
    public void addJobEvent(String tenant, StoredJobEvent event) {
        if (job(tenant, event.jobId()).isEmpty()) {
            throw new IllegalArgumentException("no job " + event.jobId() + " of tenant " + tenant);
        }
        byte[] line = (new String(json.writeValueAsBytes(event), java.nio.charset.StandardCharsets.UTF_8) + "\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        synchronized (trainingLock) {
            try (FileChannel ch = FileChannel.open(eventDir.resolve(event.jobId() + ".jsonl"),
                    StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
                ByteBuffer buf = ByteBuffer.wrap(line);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot record an event of job " + event.jobId(), e);
            }
        }
    }

    @Override
    public List<StoredJobEvent> jobEvents(String tenant, String jobId, int from) {
        if (job(tenant, jobId).isEmpty()) {
            return List.of();
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(eventDir.resolve(jobId + ".jsonl"));
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<StoredJobEvent> out = new ArrayList<>();
        for (String line : lines) {
            StoredJobEvent e;
            try {
                e = json.readValue(line, StoredJobEvent.class);
            } catch (RuntimeException torn) {
                continue; // a crash mid-append: the line was never acknowledged
            }
            if (e.seq() >= from) {
                out.add(e);
            }
        }
        return out;
    }

    private void writeTraining(TrainingState next) {
        writeAtomically(root.resolve(TRAINING_FILE), json.writeValueAsBytes(next));
        training = next;
    }

    private void removeUnreferencedTrainingFiles() throws IOException {
        Set<String> files = new HashSet<>();
        training.files().forEach(f -> files.add(f.id() + ".jsonl"));
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(fileDir)) {
            for (Path f : stream) {
                if (!files.contains(f.getFileName().toString())) {
                    log.info("removing fine-tuning file no metadata names: {}", f);
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    @Override
    public void addListener(Consumer<RegistryChange> listener) {
        listeners.add(listener);
    }

    // ---- internals

    private void checkNewVersion(State s, String tenant, String name, long bytes) {
        long names = 0;
        long ofName = 0;
        long stored = 0;
        String previous = null;
        for (StoredVersion v : s.versions()) { // sorted by tenant, then name
            InterventionVersion m = v.meta();
            if (!m.tenant().equals(tenant)) {
                continue;
            }
            if (!m.name().equals(previous)) {
                names++;
                previous = m.name();
            }
            if (m.name().equals(name)) {
                ofName++;
            }
            stored += m.bytes();
        }
        quotas.checkNewVersion(tenant, name, names, ofName, stored, bytes);
    }

    private static Optional<StoredVersion> stored(State s, String tenant, String name, int version) {
        return s.versions().stream().filter(v -> v.meta().tenant().equals(tenant) && v.meta().name().equals(name)
                && v.meta().version() == version).findFirst();
    }

    private static void refuseIfRouted(State s, String tenant, String name,
            java.util.function.IntPredicate versions) {
        for (Task t : s.tasks()) {
            if (!t.tenant().equals(tenant)) {
                continue;
            }
            for (Route r : t.routes()) {
                if (r.name().equals(name) && versions.test(r.version())) {
                    throw new InterventionInUseException(r.id(), t.name());
                }
            }
        }
    }

    private void commit(State next, RegistryChange change) {
        writeState(next);
        state = next;
        fire(change);
    }

    private void writeState(State next) {
        writeAtomically(root.resolve(STATE_FILE), json.writeValueAsBytes(next));
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

    /** Temp file in the target's directory, fsync, atomic rename over the target, fsync the directory. */
    static void writeAtomically(Path target, byte[] data) {
        Path dir = target.getParent();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", TEMP_SUFFIX);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(data);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target, e);
        } finally {
            if (tmp != null) {
                deleteQuietly(tmp);
            }
        }
    }

    private static void removeTempFiles(Path dir) throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + TEMP_SUFFIX)) {
            for (Path f : files) {
                log.info("removing unfinished write {}", f);
                Files.deleteIfExists(f);
            }
        }
    }

    private void removeUnreferencedBundles() throws IOException {
        Set<String> referenced = new HashSet<>();
        state.versions().forEach(v -> referenced.add(v.file()));
        try (DirectoryStream<Path> files = Files.newDirectoryStream(bundleDir)) {
            for (Path f : files) {
                if (!referenced.contains(f.getFileName().toString())) {
                    log.info("removing bundle file no version names: {}", f);
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            log.warn("cannot delete {}; it is removed at the next start", p, e);
        }
    }

    private static <T> List<T> without(List<T> list, Predicate<T> drop) {
        List<T> out = new ArrayList<>(list.size());
        for (T t : list) {
            if (!drop.test(t)) {
                out.add(t);
            }
        }
        return out;
    }

    private String newKeyId() {
        byte[] b = new byte[8];
        random.nextBytes(b);
        return "key_" + HexFormat.of().formatHex(b);
    }

    static Instant now() {
        // Millisecond precision, the same on every store, so a record reads back equal to what was written.
        return Instant.now().truncatedTo(ChronoUnit.MILLIS);
    }
}

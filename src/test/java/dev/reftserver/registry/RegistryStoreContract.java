package dev.reftserver.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.util.unit.DataSize;

/** The behaviour every {@link RegistryStore} keeps; each implementation runs it against a fresh store. */
abstract class RegistryStoreContract {

    protected RegistryStore store;

    /** A store over fresh, empty storage, enforcing {@code quotas}. */
    protected abstract RegistryStore newStore(Quotas quotas) throws Exception;

    /**
     * A second store over the same storage as the last {@link #newStore}, enforcing {@code quotas}: a restart
     * (the first store may be closed by it), or another replica.
     */
    protected abstract RegistryStore reopen(Quotas quotas) throws Exception;

    protected RegistryStore newStore() throws Exception {
        return newStore(Quotas.DEFAULTS);
    }

    protected RegistryStore reopen() throws Exception {
        return reopen(Quotas.DEFAULTS);
    }

    /** Replaces {@link #store} by a fresh store with these quotas. */
    private void withQuotas(Quotas quotas) throws Exception {
        store.close();
        store = newStore(quotas);
    }

    private static Quotas quotas(int interventions, int versions, long bytes, int tasks, int routes) {
        return new Quotas(interventions, versions, DataSize.ofBytes(bytes), tasks, routes, 64);
    }

    private static final long GB = 1L << 30;

    /** Whether two open stores may share storage at once (replicas); else uploads race within one store. */
    protected abstract boolean replicasShareStorage();

    @BeforeEach
    void openStore() throws Exception {
        store = newStore();
    }

    @AfterEach
    void closeStore() {
        store.close();
    }

    private static byte[] hash(int i) {
        return Sha256.digest(("key-" + i).getBytes());
    }

    @Test
    void createsTenantsAndListsThemByName() {
        assertThat(store.hasTenants()).isFalse();
        Tenant b = store.createTenant("bravo", new RateLimits(10L, null));
        store.createTenant("alpha", RateLimits.UNLIMITED);
        assertThat(store.hasTenants()).isTrue();
        assertThat(store.tenants()).extracting(Tenant::name).containsExactly("alpha", "bravo");
        assertThat(store.tenant("bravo")).contains(b);
        assertThat(store.tenant("charlie")).isEmpty();
    }

    @Test
    void refusesASecondTenantOfTheSameName() {
        store.createTenant("acme", RateLimits.UNLIMITED);
        assertThatThrownBy(() -> store.createTenant("acme", RateLimits.UNLIMITED))
                .isInstanceOf(TenantExistsException.class);
    }

    @Test
    void updatesLimitsOfKnownTenantsOnly() {
        store.createTenant("acme", RateLimits.UNLIMITED);
        Tenant t = store.updateLimits("acme", new RateLimits(5L, 100L));
        assertThat(t.limits()).isEqualTo(new RateLimits(5L, 100L));
        assertThat(store.tenant("acme").orElseThrow().limits()).isEqualTo(new RateLimits(5L, 100L));
        assertThat(store.updateLimits("acme", RateLimits.UNLIMITED).limits()).isEqualTo(RateLimits.UNLIMITED);
        assertThatThrownBy(() -> store.updateLimits("nobody", RateLimits.UNLIMITED))
                .isInstanceOf(UnknownTenantException.class);
    }

    @Test
    void findsKeysByHashUntilDeleted() {
        store.createTenant("acme", RateLimits.UNLIMITED);
        ApiKeyRecord k1 = store.addKey("acme", hash(1));
        ApiKeyRecord k2 = store.addKey("acme", hash(2));
        assertThat(k1.id()).isNotEqualTo(k2.id());
        assertThat(store.keyByHash(hash(1)).orElseThrow().tenant()).isEqualTo("acme");
        assertThat(store.keyByHash(hash(1)).orElseThrow().keyHash()).isEqualTo(hash(1));
        assertThat(store.keyByHash(hash(3))).isEmpty();
        assertThat(store.keys("acme")).extracting(ApiKeyRecord::id).containsExactlyInAnyOrder(k1.id(), k2.id());

        assertThat(store.deleteKey("other", k1.id())).isFalse();
        assertThat(store.deleteKey("acme", k1.id())).isTrue();
        assertThat(store.keyByHash(hash(1))).isEmpty();
        assertThat(store.keyByHash(hash(2))).isPresent();
        assertThatThrownBy(() -> store.addKey("nobody", hash(4))).isInstanceOf(UnknownTenantException.class);
    }

    @Test
    void numbersVersionsFromOneAndNeverReusesADeletedNumber() {
        assertThat(store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(1, 100)).version())
                .isEqualTo(1);
        assertThat(store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(2, 100)).version())
                .isEqualTo(2);
        assertThat(store.addVersion("acme", "other", TestBundles.SUMMARY, TestBundles.bytes(3, 100)).version())
                .isEqualTo(1);
        assertThat(store.deleteVersion("acme", "sent", 2)).isTrue();
        assertThat(store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(4, 100)).version())
                .isEqualTo(3);
        assertThat(store.deleteIntervention("acme", "sent")).isEqualTo(2);
        assertThat(store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(5, 100)).version())
                .isEqualTo(4);
        assertThat(store.versions("acme", "sent")).extracting(InterventionVersion::version).containsExactly(4);
    }

    @Test
    void keepsBundleBytesAndSummaryExactly() {
        byte[] bytes = TestBundles.bytes(7, 5000);
        InterventionVersion v = store.addVersion("acme", "sent", TestBundles.SUMMARY, bytes);
        assertThat(v.id()).isEqualTo("sent@1");
        assertThat(v.sha256()).isEqualTo(Sha256.hex(bytes));
        assertThat(v.bytes()).isEqualTo(5000);
        assertThat(v.summary()).isEqualTo(TestBundles.SUMMARY);
        assertThat(store.bundle("acme", "sent", 1)).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes));
        assertThat(store.version("acme", "sent", 1)).contains(v);
        assertThat(store.latest("acme", "sent")).contains(v);
        assertThat(store.bundle("acme", "sent", 2)).isEmpty();
    }

    @Test
    void listsVersionsByNameThenVersion() {
        store.addVersion("acme", "b", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(2, 10));
        store.addVersion("acme", "b", TestBundles.SUMMARY, TestBundles.bytes(3, 10));
        assertThat(store.versions("acme")).extracting(InterventionVersion::id)
                .containsExactly("a@1", "b@1", "b@2");
        assertThat(store.latest("acme", "b").orElseThrow().version()).isEqualTo(2);
    }

    @Test
    void tenantsNeverSeeEachOthersVersionsOrTasks() {
        store.addVersion("acme", "sent", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.putTask("acme", "t", List.of(new Route("sent", 1, 1)));
        assertThat(store.versions("globex")).isEmpty();
        assertThat(store.versions("globex", "sent")).isEmpty();
        assertThat(store.version("globex", "sent", 1)).isEmpty();
        assertThat(store.latest("globex", "sent")).isEmpty();
        assertThat(store.bundle("globex", "sent", 1)).isEmpty();
        assertThat(store.task("globex", "t")).isEmpty();
        assertThat(store.tasks("globex")).isEmpty();
        assertThat(store.deleteVersion("globex", "sent", 1)).isFalse();
        assertThat(store.deleteIntervention("globex", "sent")).isZero();
        assertThat(store.deleteTask("globex", "t")).isFalse();
        assertThatThrownBy(() -> store.putTask("globex", "t", List.of(new Route("sent", 1, 1))))
                .isInstanceOf(UnknownRouteException.class).hasMessageContaining("sent@1");
        // the other tenant's own numbering is independent
        assertThat(store.addVersion("globex", "sent", TestBundles.SUMMARY, TestBundles.bytes(2, 10)).version())
                .isEqualTo(1);
        assertThat(store.versions("acme")).hasSize(1);
    }

    @Test
    void storesTasksWithOrderedWeightedRoutesAndReplacesThem() {
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(2, 10));
        Task t = store.putTask("acme", "summarize", List.of(new Route("a", 1, 90), new Route("a", 2, 10)));
        assertThat(store.task("acme", "summarize")).contains(t);
        assertThat(t.totalWeight()).isEqualTo(100);
        Task replaced = store.putTask("acme", "summarize", List.of(new Route("a", 2, 1)));
        assertThat(store.task("acme", "summarize").orElseThrow().routes()).containsExactly(new Route("a", 2, 1));
        store.putTask("acme", "answer", List.of(new Route("a", 1, 1)));
        assertThat(store.tasks("acme")).extracting(Task::name).containsExactly("answer", "summarize");
        assertThat(store.deleteTask("acme", "summarize")).isTrue();
        assertThat(store.task("acme", "summarize")).isEmpty();
        assertThat(replaced.routes()).hasSize(1);
    }

    @Test
    void refusesRoutesToMissingVersions() {
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        assertThatThrownBy(() -> store.putTask("acme", "t", List.of(new Route("a", 1, 1), new Route("a", 2, 1))))
                .isInstanceOf(UnknownRouteException.class).hasMessageContaining("a@2");
        assertThat(store.task("acme", "t")).isEmpty();
    }

    @Test
    void refusesToDeleteARoutedVersion() {
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(2, 10));
        store.putTask("acme", "t", List.of(new Route("a", 2, 1)));
        assertThatThrownBy(() -> store.deleteVersion("acme", "a", 2))
                .isInstanceOf(InterventionInUseException.class).hasMessageContaining("'t'");
        assertThatThrownBy(() -> store.deleteIntervention("acme", "a"))
                .isInstanceOf(InterventionInUseException.class);
        assertThat(store.versions("acme", "a")).hasSize(2);
        assertThat(store.deleteVersion("acme", "a", 1)).isTrue();
        store.deleteTask("acme", "t");
        assertThat(store.deleteIntervention("acme", "a")).isEqualTo(1);
    }

    @Test
    void deletingATenantRemovesItsKeysVersionsAndTasks() {
        store.createTenant("acme", RateLimits.UNLIMITED);
        store.createTenant("globex", RateLimits.UNLIMITED);
        store.addKey("acme", hash(1));
        store.addKey("globex", hash(2));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("globex", "a", TestBundles.SUMMARY, TestBundles.bytes(2, 10));
        store.putTask("acme", "t", List.of(new Route("a", 1, 1)));

        assertThat(store.deleteTenant("acme")).isTrue();
        assertThat(store.tenant("acme")).isEmpty();
        assertThat(store.keyByHash(hash(1))).isEmpty();
        assertThat(store.versions("acme")).isEmpty();
        assertThat(store.bundle("acme", "a", 1)).isEmpty();
        assertThat(store.tasks("acme")).isEmpty();
        assertThat(store.keyByHash(hash(2))).isPresent();
        assertThat(store.versions("globex")).hasSize(1);
        assertThat(store.deleteTenant("acme")).isFalse();

        // a new tenant of the same name starts from nothing
        store.createTenant("acme", RateLimits.UNLIMITED);
        assertThat(store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(3, 10)).version())
                .isEqualTo(1);
    }

    @Test
    void tellsListenersOfEachChange() {
        List<RegistryChange> heard = Collections.synchronizedList(new ArrayList<>());
        store.addListener(heard::add);
        store.createTenant("acme", RateLimits.UNLIMITED);
        store.updateLimits("acme", new RateLimits(1L, 1L));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.putTask("acme", "t", List.of(new Route("a", 1, 1)));
        store.deleteTask("acme", "t");
        store.deleteVersion("acme", "a", 1);
        store.deleteTenant("acme");
        assertThat(heard).containsExactly(
                new RegistryChange(RegistryChange.Kind.TENANT_CREATED, "acme", null, 0),
                new RegistryChange(RegistryChange.Kind.TENANT_UPDATED, "acme", null, 0),
                new RegistryChange(RegistryChange.Kind.VERSION_ADDED, "acme", "a", 1),
                new RegistryChange(RegistryChange.Kind.TASK_CHANGED, "acme", "t", 0),
                new RegistryChange(RegistryChange.Kind.TASK_CHANGED, "acme", "t", 0),
                new RegistryChange(RegistryChange.Kind.VERSION_DELETED, "acme", "a", 1),
                new RegistryChange(RegistryChange.Kind.TENANT_DELETED, "acme", null, 0));
    }

    @Test
    void keepsEverythingAcrossReopening() throws Exception {
        store.createTenant("acme", new RateLimits(3L, null));
        store.addKey("acme", hash(1));
        byte[] bytes = TestBundles.bytes(9, 777);
        InterventionVersion v = store.addVersion("acme", "a", TestBundles.SUMMARY, bytes);
        store.deleteVersion("acme", "a", 1);
        InterventionVersion v2 = store.addVersion("acme", "a", TestBundles.SUMMARY, bytes);
        Task t = store.putTask("acme", "t", List.of(new Route("a", 2, 5)));
        Tenant tenant = store.tenant("acme").orElseThrow();

        store.close();
        try (RegistryStore again = reopen()) {
            assertThat(again.tenant("acme")).contains(tenant);
            assertThat(again.keyByHash(hash(1))).isPresent();
            assertThat(again.versions("acme")).containsExactly(v2);
            assertThat(again.bundle("acme", "a", 2)).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes));
            assertThat(again.task("acme", "t")).contains(t);
            assertThat(again.addVersion("acme", "a", TestBundles.SUMMARY, bytes).version()).isEqualTo(3);
        }
        assertThat(v.version()).isEqualTo(1);
    }

    @Test
    void concurrentUploadsOfOneNameGetDistinctConsecutiveVersions() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        RegistryStore second = replicasShareStorage() ? reopen() : store;
        try {
            List<Future<InterventionVersion>> futures = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                RegistryStore target = i % 2 == 0 ? store : second;
                int seed = i;
                futures.add(pool.submit(() -> target.addVersion("acme", "a", TestBundles.SUMMARY,
                        TestBundles.bytes(seed, 300))));
            }
            List<Integer> versions = new ArrayList<>();
            for (Future<InterventionVersion> f : futures) {
                InterventionVersion v = f.get(30, TimeUnit.SECONDS);
                versions.add(v.version());
                assertThat(store.bundle("acme", "a", v.version())).hasValueSatisfying(
                        b -> assertThat(Sha256.hex(b)).isEqualTo(v.sha256()));
            }
            assertThat(versions).containsExactlyInAnyOrderElementsOf(
                    java.util.stream.IntStream.rangeClosed(1, 20).boxed().toList());
        } finally {
            pool.shutdownNow();
            if (second != store) {
                second.close();
            }
        }
    }

    // ---- quotas

    private static QuotaExceededException quotaError(Runnable write) {
        try {
            write.run();
        } catch (QuotaExceededException e) {
            return e;
        }
        throw new AssertionError("the write was accepted over its quota");
    }

    @Test
    void refusesANewInterventionNameOverTheInterventionQuotaWith429() throws Exception {
        withQuotas(quotas(2, 100, GB, 100, 16));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("acme", "b", TestBundles.SUMMARY, TestBundles.bytes(2, 10));

        QuotaExceededException e = quotaError(
                () -> store.addVersion("acme", "c", TestBundles.SUMMARY, TestBundles.bytes(3, 10)));
        assertThat(e.status()).isEqualTo(HttpStatus.TOO_MANY_REQUESTS);
        assertThat(e.code()).isEqualTo("quota_exceeded");
        assertThat(e.getMessage()).contains("2 interventions", "reft.quotas.interventions");
        assertThat(store.versions("acme", "c")).isEmpty();
        // A new version of a kept name is no new intervention; another tenant has its own quota.
        assertThat(store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(4, 10)).version())
                .isEqualTo(2);
        store.addVersion("other", "c", TestBundles.SUMMARY, TestBundles.bytes(5, 10));
        // Deleting a name makes room.
        store.deleteIntervention("acme", "b");
        assertThat(store.addVersion("acme", "c", TestBundles.SUMMARY, TestBundles.bytes(6, 10)).id())
                .isEqualTo("c@1");
    }

    @Test
    void refusesAVersionOverTheVersionsPerInterventionQuotaWith429() throws Exception {
        withQuotas(quotas(100, 2, GB, 100, 16));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(2, 10));

        QuotaExceededException e = quotaError(
                () -> store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(3, 10)));
        assertThat(e.status()).isEqualTo(HttpStatus.TOO_MANY_REQUESTS);
        assertThat(e.getMessage()).contains("2 versions of 'a'", "reft.quotas.versions-per-intervention");
        assertThat(store.versions("acme", "a")).hasSize(2);
        store.addVersion("acme", "b", TestBundles.SUMMARY, TestBundles.bytes(4, 10));
        store.deleteVersion("acme", "a", 1);
        // The refused upload used no version number.
        assertThat(store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(5, 10)).version())
                .isEqualTo(3);
    }

    @Test
    void refusesBytesOverTheStoredBytesQuotaWith413() throws Exception {
        withQuotas(quotas(100, 100, 1000, 100, 16));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 600));

        QuotaExceededException e = quotaError(
                () -> store.addVersion("acme", "b", TestBundles.SUMMARY, TestBundles.bytes(2, 401)));
        assertThat(e.status()).isEqualTo(HttpStatus.PAYLOAD_TOO_LARGE);
        assertThat(e.getMessage()).contains("600 bytes", "401 more", "1000 bytes", "reft.quotas.stored-bytes");
        assertThat(store.versions("acme")).hasSize(1);
        // Exactly at the limit is within it; other tenants count their own bytes.
        store.addVersion("acme", "b", TestBundles.SUMMARY, TestBundles.bytes(3, 400));
        store.addVersion("other", "a", TestBundles.SUMMARY, TestBundles.bytes(4, 1000));
        store.deleteVersion("acme", "a", 1);
        store.addVersion("acme", "c", TestBundles.SUMMARY, TestBundles.bytes(5, 600));
    }

    @Test
    void refusesANewTaskOverTheTaskQuotaWith429ButReplacesAKeptOne() throws Exception {
        withQuotas(quotas(100, 100, GB, 1, 16));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        store.putTask("acme", "t1", List.of(new Route("a", 1, 1)));

        QuotaExceededException e = quotaError(() -> store.putTask("acme", "t2", List.of(new Route("a", 1, 1))));
        assertThat(e.status()).isEqualTo(HttpStatus.TOO_MANY_REQUESTS);
        assertThat(e.getMessage()).contains("1 tasks", "reft.quotas.tasks");
        assertThat(store.task("acme", "t2")).isEmpty();
        assertThat(store.putTask("acme", "t1", List.of(new Route("a", 1, 5))).routes())
                .containsExactly(new Route("a", 1, 5));
        store.deleteTask("acme", "t1");
        store.putTask("acme", "t2", List.of(new Route("a", 1, 1)));
    }

    @Test
    void refusesATaskWithMoreRoutesThanTheQuotaWith400() throws Exception {
        withQuotas(quotas(100, 100, GB, 100, 2));
        store.addVersion("acme", "a", TestBundles.SUMMARY, TestBundles.bytes(1, 10));
        List<Route> three = List.of(new Route("a", 1, 1), new Route("a", 1, 2), new Route("a", 1, 3));

        QuotaExceededException e = quotaError(() -> store.putTask("acme", "t", three));
        assertThat(e.status()).isEqualTo(HttpStatus.BAD_REQUEST);
        assertThat(e.param()).isEqualTo("routes");
        assertThat(e.getMessage()).contains("at most 2 routes", "reft.quotas.routes-per-task", "got 3");
        assertThat(store.task("acme", "t")).isEmpty();
        store.putTask("acme", "t", three.subList(0, 2));
    }

    @Test
    void concurrentUploadsNeverOvershootTheInterventionQuota() throws Exception {
        withQuotas(quotas(3, 100, GB, 100, 16));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        RegistryStore second = replicasShareStorage() ? reopen(quotas(3, 100, GB, 100, 16)) : store;
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                RegistryStore target = i % 2 == 0 ? store : second;
                int seed = i;
                futures.add(pool.submit(() -> target.addVersion("acme", "n" + seed, TestBundles.SUMMARY,
                        TestBundles.bytes(seed, 100))));
            }
            int accepted = 0;
            int refused = 0;
            for (Future<?> f : futures) {
                try {
                    f.get(30, TimeUnit.SECONDS);
                    accepted++;
                } catch (java.util.concurrent.ExecutionException e) {
                    assertThat(e.getCause()).isInstanceOf(QuotaExceededException.class);
                    refused++;
                }
            }
            assertThat(accepted).isEqualTo(3);
            assertThat(refused).isEqualTo(9);
            assertThat(store.versions("acme")).hasSize(3);
        } finally {
            pool.shutdownNow();
            if (second != store) {
                second.close();
            }
        }
    }

    // ---- fine-tuning files and jobs

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    private static StoredJob job(String id, String tenant, int minute, String status) {
        return job(id, tenant, minute, status, "r1");
    }

    private static StoredJob job(String id, String tenant, int minute, String status, String owner) {
        return new StoredJob(id, tenant, T0.plusSeconds(60L * minute), "{\"model\":\"m\"}", 3, 6, status, 0, 0,
                null, null, null, owner);
    }

    /** {@code j} after {@code steps} updates, in {@code status}, as {@code owner} writes it. */
    private static StoredJob progress(StoredJob j, String status, int steps, String owner) {
        return new StoredJob(j.id(), j.tenant(), j.createdAt(), j.request(), j.examples(), j.totalSteps(), status,
                steps, 10L * steps, null, null, StoredJob.TERMINAL.contains(status) ? T0.plusSeconds(99) : null,
                owner);
    }

    private static StoredJobEvent event(String job, int seq, String message) {
        return new StoredJobEvent(job, seq, T0.plusSeconds(seq), "info", message, "message", "{}");
    }

    @Test
    void keepsFineTuningFilesPerTenantNewestFirst() {
        byte[] content = "{\"prompt\":\"a\",\"completion\":\"b\"}\n".getBytes();
        StoredFile older = store.addFile(new StoredFile("file-1", "acme", "a.jsonl", "fine-tune", content.length, T0,
                null), content);
        StoredFile newer = store.addFile(new StoredFile("file-2", "acme", "b.jsonl", "fine-tune", 5,
                T0.plusSeconds(1), null), "12345".getBytes());
        store.addFile(new StoredFile("file-3", "other", "c.jsonl", "fine-tune", 1, T0, null), "x".getBytes());

        assertThat(store.files("acme")).containsExactly(newer, older);
        assertThat(store.file("acme", "file-1")).contains(older);
        assertThat(store.fileContent("acme", "file-1")).hasValueSatisfying(b -> assertThat(b).isEqualTo(content));
        assertThat(store.file("acme", "file-3")).isEmpty();
        assertThat(store.fileContent("acme", "file-3")).isEmpty();
        assertThat(store.deleteFile("acme", "file-3")).isFalse();

        assertThat(store.deleteFile("acme", "file-1")).isTrue();
        assertThat(store.deleteFile("acme", "file-1")).isFalse();
        assertThat(store.files("acme")).containsExactly(newer);
        assertThat(store.fileContent("acme", "file-1")).isEmpty();
        assertThat(store.files("other")).extracting(StoredFile::id).containsExactly("file-3");
    }

    @Test
    void anExpiredFileIsGoneForEveryReadAndDeletingExpiredFilesTakesOnlyThose() {
        Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        StoredFile expired = new StoredFile("file-p", "acme", "p.jsonl", "fine-tune", 1, now.minusSeconds(7200),
                now.minusSeconds(10));
        StoredFile later = new StoredFile("file-f", "acme", "f.jsonl", "fine-tune", 1, now.minusSeconds(60),
                now.plusSeconds(3600));
        StoredFile kept = new StoredFile("file-k", "acme", "k.jsonl", "fine-tune", 1, now.minusSeconds(120), null);
        StoredFile othersExpired = new StoredFile("file-q", "other", "q.jsonl", "fine-tune", 1,
                now.minusSeconds(7200), now.minusSeconds(1));
        for (StoredFile f : List.of(expired, later, kept, othersExpired)) {
            store.addFile(f, "x".getBytes());
        }

        assertThat(store.files("acme")).containsExactly(later, kept);
        assertThat(store.file("acme", "file-p")).isEmpty();
        assertThat(store.fileContent("acme", "file-p")).isEmpty();
        assertThat(store.file("acme", "file-f")).contains(later);
        assertThat(store.files("other")).isEmpty();

        assertThat(store.deleteExpiredFiles(now)).containsExactlyInAnyOrder("file-p", "file-q");
        assertThat(store.deleteExpiredFiles(now)).isEmpty();
        assertThat(store.deleteFile("acme", "file-p")).isFalse();
        assertThat(store.files("acme")).containsExactly(later, kept);
        assertThat(store.deleteExpiredFiles(now.plusSeconds(3600))).containsExactly("file-f");
        assertThat(store.files("acme")).containsExactly(kept);
        assertThat(store.fileContent("acme", "file-k")).hasValueSatisfying(b -> assertThat(b).isEqualTo(
                "x".getBytes()));
    }

    @Test
    void movesJobsThroughTheirStatesAndKeepsTheirEventsInOrder() {
        store.putJob(job("ftjob-a", "acme", 0, "queued"));
        store.putJob(job("ftjob-b", "acme", 1, "validating_files"));
        store.putJob(job("ftjob-c", "other", 2, "queued"));
        store.addJobEvent("acme", event("ftjob-a", 0, "queued"));
        store.addJobEvent("acme", event("ftjob-a", 1, "started"));

        StoredJob running = new StoredJob("ftjob-a", "acme", T0, "{\"model\":\"m\"}", 3, 6, "running", 2, 40, null,
                null, null, "r1");
        store.putJob(running);
        assertThat(store.job("acme", "ftjob-a")).contains(running);
        StoredJob done = new StoredJob("ftjob-a", "acme", T0, "{\"model\":\"m\"}", 3, 6, "succeeded", 6, 120,
                "ft@1", null, T0.plusSeconds(9), "r1");
        store.putJob(done);
        StoredJob failed = new StoredJob("ftjob-b", "acme", T0.plusSeconds(60), "{\"model\":\"m\"}", 3, 6, "failed",
                0, 0, null, new StoredJob.Error("training_error", "boom", null), T0.plusSeconds(70), "r1");
        store.putJob(failed);

        assertThat(store.job("acme", "ftjob-a")).contains(done);
        assertThat(store.jobs("acme")).containsExactly(failed, done);
        assertThat(store.job("acme", "ftjob-c")).isEmpty();
        assertThat(store.unfinishedJobs()).extracting(StoredJob::id).containsExactly("ftjob-c");
        assertThat(store.jobEvents("acme", "ftjob-a", 0)).extracting(StoredJobEvent::message)
                .containsExactly("queued", "started");
        assertThat(store.jobEvents("acme", "ftjob-a", 1)).containsExactly(event("ftjob-a", 1, "started"));
        assertThat(store.jobEvents("other", "ftjob-a", 0)).isEmpty();
        assertThatThrownBy(() -> store.addJobEvent("other", event("ftjob-a", 2, "x")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.putJob(job("ftjob-a", "other", 0, "queued")))
                .isInstanceOf(IllegalStateException.class);
        assertThat(store.job("acme", "ftjob-a")).contains(done);
    }

    @Test
    void onlyTheReplicaRunningAJobWritesItAndACancelFromAnyReplicaReachesIt() {
        StoredJob running = job("ftjob-a", "acme", 0, "running");
        StoredJob queued = job("ftjob-q", "acme", 1, "queued");
        store.putJob(running);
        store.putJob(queued);
        Instant t1 = T0.plusSeconds(300);

        StoredJob stepped = progress(running, "running", 3, "r1");
        assertThat(store.updateJob(progress(running, "running", 3, "r2"))).isEqualTo(RegistryStore.JobWrite.REFUSED);
        assertThat(store.job("acme", "ftjob-a")).contains(running);
        assertThat(store.updateJob(stepped)).isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.job("acme", "ftjob-a")).contains(stepped);

        // A job not started is cancelled at once, and its replica can no longer start it.
        assertThat(store.cancelJob("acme", "ftjob-q", t1)).isEqualTo(RegistryStore.JobCancel.CANCELLED);
        assertThat(store.job("acme", "ftjob-q")).contains(queued.cancelledAt(t1));
        assertThat(store.updateJob(progress(queued, "running", 0, "r1"))).isEqualTo(RegistryStore.JobWrite.REFUSED);
        assertThat(store.job("acme", "ftjob-q")).contains(queued.cancelledAt(t1));

        // A running job's replica learns of the cancel at its next write, and finishes it.
        assertThat(store.cancelJob("acme", "ftjob-a", t1)).isEqualTo(RegistryStore.JobCancel.REQUESTED);
        assertThat(store.job("acme", "ftjob-a")).contains(stepped);
        StoredJob more = progress(running, "running", 4, "r1");
        assertThat(store.updateJob(more)).isEqualTo(RegistryStore.JobWrite.CANCEL_REQUESTED);
        assertThat(store.job("acme", "ftjob-a")).contains(more);
        StoredJob cancelled = progress(running, "cancelled", 4, "r1");
        assertThat(store.updateJob(cancelled)).isEqualTo(RegistryStore.JobWrite.CANCEL_REQUESTED);
        assertThat(store.job("acme", "ftjob-a")).contains(cancelled);

        // Finished jobs stay as they are; another tenant's job is unknown.
        assertThat(store.updateJob(progress(running, "succeeded", 6, "r1"))).isEqualTo(RegistryStore.JobWrite.REFUSED);
        assertThat(store.cancelJob("acme", "ftjob-a", t1)).isEqualTo(RegistryStore.JobCancel.FINISHED);
        assertThat(store.cancelJob("other", "ftjob-a", t1)).isEqualTo(RegistryStore.JobCancel.UNKNOWN);
        assertThat(store.cancelJob("acme", "ftjob-none", t1)).isEqualTo(RegistryStore.JobCancel.UNKNOWN);
        assertThat(store.job("acme", "ftjob-a")).contains(cancelled);
    }

    @Test
    void aReplicaTakesOverTheJobsOfReplicasThatStoppedButNotItsOwnOrFinishedOnes() {
        StoredJob mine = job("ftjob-a", "acme", 0, "running", "r1");
        StoredJob theirs = progress(job("ftjob-b", "acme", 1, "running", "r2"), "running", 2, "r2");
        StoredJob unowned = job("ftjob-c", "other", 2, "queued", null);
        StoredJob done = progress(job("ftjob-d", "acme", 3, "running", "r2"), "succeeded", 6, "r2");
        StoredJob later = job("ftjob-e", "acme", 4, "queued", "r2");
        for (StoredJob j : List.of(mine, theirs, unowned, done, later)) {
            store.putJob(j);
        }

        // With no lease left every other replica's unfinished job is abandoned; oldest first, at most as asked.
        assertThat(store.claimAbandonedJobs(Duration.ZERO, "r1", 2))
                .containsExactly(theirs.ownedBy("r1"), unowned.ownedBy("r1"));
        assertThat(store.job("acme", "ftjob-b")).contains(theirs.ownedBy("r1"));
        assertThat(store.job("acme", "ftjob-a")).contains(mine);
        assertThat(store.job("acme", "ftjob-d")).contains(done);
        // The replica that ran it can no longer write it; its new owner can.
        assertThat(store.updateJob(progress(theirs, "running", 3, "r2"))).isEqualTo(RegistryStore.JobWrite.REFUSED);
        assertThat(store.updateJob(progress(theirs, "running", 3, "r1"))).isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.claimAbandonedJobs(Duration.ZERO, "r1", 10)).containsExactly(later.ownedBy("r1"));
        assertThat(store.claimAbandonedJobs(Duration.ZERO, "r1", 10)).isEmpty();

        // A replica that stops gives its jobs up: another takes them over at once, however long the lease.
        store.releaseJobs("r1");
        assertThat(store.job("acme", "ftjob-a")).contains(mine.ownedBy(null));
        assertThat(store.claimAbandonedJobs(Duration.ofHours(1), "r3", 10)).extracting(StoredJob::id)
                .containsExactly("ftjob-a", "ftjob-b", "ftjob-c", "ftjob-e");
        assertThat(store.unfinishedJobs()).extracting(StoredJob::owner).containsOnly("r3");
    }

    @Test
    void pausedJobsAreNoReplicasUntilResumedAndNeverTakenOver() {
        StoredJob queued = job("ftjob-q", "acme", 0, "queued", "r1");
        StoredJob running = job("ftjob-r", "acme", 1, "running", "r1");
        StoredJob done = progress(job("ftjob-d", "acme", 2, "running", "r1"), "succeeded", 6, "r1");
        for (StoredJob j : List.of(queued, running, done)) {
            store.putJob(j);
        }
        byte[] state = {4, 5, 6};

        // Not started: paused at once, no replica's; its replica's start is refused.
        assertThat(store.pauseJob("acme", "ftjob-q")).isEqualTo(RegistryStore.JobPause.DONE);
        assertThat(store.job("acme", "ftjob-q")).contains(queued.withStatus("paused").ownedBy(null));
        assertThat(store.updateJob(progress(queued, "running", 0, "r1"))).isEqualTo(RegistryStore.JobWrite.REFUSED);
        // Running: its replica learns of it at its next write and writes it paused with its state.
        assertThat(store.pauseJob("acme", "ftjob-r")).isEqualTo(RegistryStore.JobPause.REQUESTED);
        assertThat(store.job("acme", "ftjob-r")).contains(running);
        assertThat(store.updateJob(progress(running, "running", 3, "r1")))
                .isEqualTo(RegistryStore.JobWrite.PAUSE_REQUESTED);
        assertThat(store.updateJob(progress(running, "paused", 3, "r1"), state))
                .isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.pauseJob("acme", "ftjob-r")).isEqualTo(RegistryStore.JobPause.NOT_APPLICABLE);
        assertThat(store.pauseJob("acme", "ftjob-d")).isEqualTo(RegistryStore.JobPause.NOT_APPLICABLE);
        assertThat(store.pauseJob("other", "ftjob-r")).isEqualTo(RegistryStore.JobPause.UNKNOWN);
        // Paused jobs are never taken over, however old.
        store.releaseJobs("r1");
        assertThat(store.claimAbandonedJobs(Duration.ZERO, "r2", 10)).isEmpty();

        assertThat(store.resumeJob("acme", "ftjob-d")).isEqualTo(RegistryStore.JobPause.NOT_APPLICABLE);
        assertThat(store.resumeJob("acme", "ftjob-none")).isEqualTo(RegistryStore.JobPause.UNKNOWN);
        assertThat(store.resumeJob("acme", "ftjob-r")).isEqualTo(RegistryStore.JobPause.DONE);
        assertThat(store.resumeJob("acme", "ftjob-r")).isEqualTo(RegistryStore.JobPause.NOT_APPLICABLE);
        assertThat(store.job("acme", "ftjob-r")).contains(progress(running, "queued", 3, null));
        assertThat(store.jobTrainingState("acme", "ftjob-r")).hasValueSatisfying(b -> assertThat(b).isEqualTo(state));
        // Resumed, it is any replica's to take over at once, the pause forgotten.
        assertThat(store.claimAbandonedJobs(Duration.ofHours(1), "r2", 10)).extracting(StoredJob::id)
                .containsExactly("ftjob-r");
        assertThat(store.updateJob(progress(running, "running", 4, "r2"))).isEqualTo(RegistryStore.JobWrite.WRITTEN);
        // A paused job is cancelled at once.
        assertThat(store.cancelJob("acme", "ftjob-q", T0)).isEqualTo(RegistryStore.JobCancel.CANCELLED);
        assertThat(store.job("acme", "ftjob-q")).hasValueSatisfying(j -> assertThat(j.status()).isEqualTo("cancelled"));
    }

    @Test
    void aJobKeepsItsTrainingStateUntilItFinishes() {
        StoredJob running = job("ftjob-a", "acme", 0, "running", "r1");
        store.putJob(running);
        assertThat(store.jobTrainingState("acme", "ftjob-a")).isEmpty();
        byte[] first = {1, 2, 3};
        byte[] second = new byte[1 << 16];
        second[7] = 9;

        assertThat(store.updateJob(progress(running, "running", 1, "r1"), first))
                .isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.jobTrainingState("acme", "ftjob-a")).hasValueSatisfying(b -> assertThat(b).isEqualTo(first));
        assertThat(store.jobTrainingState("other", "ftjob-a")).isEmpty();
        // without a new state the last one stays; another owner's state is refused with its write
        assertThat(store.updateJob(progress(running, "running", 2, "r1"))).isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.updateJob(progress(running, "running", 2, "r2"), second))
                .isEqualTo(RegistryStore.JobWrite.REFUSED);
        assertThat(store.jobTrainingState("acme", "ftjob-a")).hasValueSatisfying(b -> assertThat(b).isEqualTo(first));
        assertThat(store.updateJob(progress(running, "running", 3, "r1"), second))
                .isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.jobTrainingState("acme", "ftjob-a")).hasValueSatisfying(b -> assertThat(b).isEqualTo(second));
        // a finished job needs none
        assertThat(store.updateJob(progress(running, "succeeded", 6, "r1"))).isEqualTo(RegistryStore.JobWrite.WRITTEN);
        assertThat(store.jobTrainingState("acme", "ftjob-a")).isEmpty();
    }

    @Test
    void fineTuningFilesAndJobsSurviveAReopenAndGoWithTheirTenant() throws Exception {
        store.createTenant("acme", RateLimits.UNLIMITED);
        store.addFile(new StoredFile("file-1", "acme", "a.jsonl", "fine-tune", 3, T0, null), "abc".getBytes());
        store.putJob(job("ftjob-a", "acme", 0, "running"));
        store.addJobEvent("acme", event("ftjob-a", 0, "started"));
        try (RegistryStore again = reopen()) {
            assertThat(again.fileContent("acme", "file-1")).hasValueSatisfying(b ->
                    assertThat(new String(b)).isEqualTo("abc"));
            assertThat(again.unfinishedJobs()).containsExactly(job("ftjob-a", "acme", 0, "running"));
            assertThat(again.jobEvents("acme", "ftjob-a", 0)).containsExactly(event("ftjob-a", 0, "started"));

            assertThat(again.deleteTenant("acme")).isTrue();
            assertThat(again.files("acme")).isEmpty();
            assertThat(again.jobs("acme")).isEmpty();
            assertThat(again.jobEvents("acme", "ftjob-a", 0)).isEmpty();
            assertThat(again.unfinishedJobs()).isEmpty();
        }
    }
}

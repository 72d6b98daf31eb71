package dev.reftserver.tenant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.reftserver.registry.EmbeddedStore;
import dev.reftserver.registry.RateLimits;
import io.github.bucket4j.TimeMeter;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RateLimiterTest {

    /** A clock the test moves by hand. */
    static final class ManualClock implements TimeMeter {
        long nanos;

        @Override
        public long currentTimeNanos() {
            return nanos;
        }

        @Override
        public boolean isWallClockBased() {
            return false;
        }

        void advanceSeconds(long s) {
            nanos += TimeUnit.SECONDS.toNanos(s);
        }
    }

    @TempDir
    Path dir;
    EmbeddedStore store;
    ManualClock clock = new ManualClock();
    RateLimiter limiter;

    @BeforeEach
    void setUp() {
        store = new EmbeddedStore(dir);
        limiter = new RateLimiter(store, clock);
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    @Test
    void refillsRequestsEvenlyOverTheMinute() {
        store.createTenant("acme", new RateLimits(3L, null));
        for (int i = 0; i < 3; i++) {
            limiter.checkRequest("acme");
        }
        assertThatThrownBy(() -> limiter.checkRequest("acme")).isInstanceOfSatisfying(RateLimitedException.class,
                e -> assertThat(e.retryAfterSeconds()).isEqualTo(20));
        clock.advanceSeconds(20);
        limiter.checkRequest("acme");
        assertThatThrownBy(() -> limiter.checkRequest("acme")).isInstanceOf(RateLimitedException.class);
    }

    @Test
    void tokenDebtDelaysAdmissionUntilRepaid() {
        store.createTenant("acme", new RateLimits(null, 60L));
        limiter.checkTokens("acme");
        limiter.recordTokens("acme", 90); // 30 in debt: one token a second
        assertThatThrownBy(() -> limiter.checkTokens("acme")).isInstanceOfSatisfying(RateLimitedException.class,
                e -> assertThat(e.retryAfterSeconds()).isEqualTo(31));
        clock.advanceSeconds(30);
        assertThatThrownBy(() -> limiter.checkTokens("acme")).isInstanceOf(RateLimitedException.class);
        clock.advanceSeconds(1);
        limiter.checkTokens("acme");
    }

    @Test
    void unknownAndUnlimitedTenantsAreNeverRefused() {
        store.createTenant("free", RateLimits.UNLIMITED);
        for (int i = 0; i < 1000; i++) {
            limiter.checkRequest("free");
            limiter.checkRequest("default");
            limiter.recordTokens("free", 1000);
            limiter.checkTokens("free");
        }
    }

    @Test
    void aDeletedTenantsBucketsAreForgotten() {
        store.createTenant("acme", new RateLimits(1L, null));
        limiter.checkRequest("acme");
        store.deleteTenant("acme");
        store.createTenant("acme", new RateLimits(1L, null));
        limiter.checkRequest("acme");
    }
}

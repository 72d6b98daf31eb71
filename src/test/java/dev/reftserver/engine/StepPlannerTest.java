package dev.reftserver.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The engine's planning alone, with no model: who is admitted, who retires, who decodes. The test plays the
 * runner: admitted rows join {@code running}, finished ones leave it and give their tokens back.
 */
class StepPlannerTest {

    static final long MINUTE = TimeUnit.MINUTES.toNanos(1);
    static final GenerationListener IGNORE = new GenerationListener() {
        @Override
        public void onText(String delta) {
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        }
    };

    final List<Generation> running = new ArrayList<>();

    static StepPlanner planner(int maxBatch, int maxQueue, long kvTokens) {
        return new StepPlanner(new EngineSettings(maxBatch, maxQueue, kvTokens, Duration.ofMinutes(1),
                Duration.ofSeconds(1)));
    }

    /** A row of {@code promptTokens + maxTokens} KV tokens. */
    static Generation row(String tenant, int promptTokens, int maxTokens, long timeoutNanos) {
        return new Generation(tenant, new int[promptTokens], SamplingParams.greedy(maxTokens), null, IGNORE,
                timeoutNanos);
    }

    static Generation row(String tenant) {
        return row(tenant, 4, 4, MINUTE);
    }

    static List<Generation> rows(String tenant, int n) {
        List<Generation> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(row(tenant));
        }
        return out;
    }

    /** Plans a step now and plays it: admitted rows run, retired rows leave the batch. */
    StepPlan step(StepPlanner planner) {
        return step(planner, System.nanoTime());
    }

    StepPlan step(StepPlanner planner, long now) {
        StepPlan plan = planner.schedule(running, now);
        for (StepPlan.Retirement r : plan.retire()) {
            running.remove(r.row());
        }
        running.addAll(plan.prefill());
        return plan;
    }

    void finish(StepPlanner planner, Generation g) {
        running.remove(g);
        planner.release(g);
    }

    @Test
    void admitsOneRowPerTenantInTurnSoABurstDelaysASingleRequestByOneRound() {
        StepPlanner planner = planner(3, 64, 1 << 20);
        List<Generation> burst = rows("acme", 10);
        Generation single = row("globex");
        assertThat(planner.offer(burst, 0)).isTrue();
        assertThat(planner.offer(List.of(single), 0)).isTrue();

        StepPlan plan = step(planner);

        assertThat(plan.prefill()).containsExactly(burst.get(0), single, burst.get(1));
        assertThat(planner.waitingRows()).isEqualTo(8);
    }

    @Test
    void aTenantArrivingAfterABurstWaitsAtMostOneRoundOfTurns() {
        StepPlanner planner = planner(1, 64, 1 << 20);
        List<Generation> burst = rows("acme", 5);
        planner.offer(burst, 0);
        assertThat(step(planner).prefill()).containsExactly(burst.get(0));
        Generation single = row("globex");
        planner.offer(List.of(single), 0);

        assertThat(step(planner).prefill()).as("no free slot").isEmpty();
        // the burst's turn came before the newcomer queued: it takes that turn, then the newcomer its own
        finish(planner, burst.get(0));
        assertThat(step(planner).prefill()).containsExactly(burst.get(1));
        finish(planner, burst.get(1));
        assertThat(step(planner).prefill()).containsExactly(single);
        finish(planner, single);
        assertThat(step(planner).prefill()).containsExactly(burst.get(2));
    }

    @Test
    void admitsNoMoreThanTheBatchSizeAndFillsFreedSlots() {
        StepPlanner planner = planner(3, 64, 1 << 20);
        List<Generation> five = rows("acme", 5);
        planner.offer(five, 0);

        StepPlan first = step(planner);
        assertThat(first.prefill()).containsExactly(five.get(0), five.get(1), five.get(2));
        assertThat(first.decode()).isEmpty();
        StepPlan full = step(planner);
        assertThat(full.prefill()).isEmpty();
        assertThat(full.decode()).containsExactly(five.get(0), five.get(1), five.get(2));

        finish(planner, five.get(1));
        StepPlan refill = step(planner);
        assertThat(refill.prefill()).containsExactly(five.get(3));
        assertThat(refill.decode()).containsExactly(five.get(0), five.get(2));
        assertThat(planner.waitingRows()).isEqualTo(1);
    }

    @Test
    void admitsWithinTheKvTokenBudgetAndReservesPromptPlusMaxTokens() {
        // each row needs 30 + 10 = 40 tokens; 100 hold two
        StepPlanner planner = planner(8, 64, 100);
        List<Generation> three = List.of(row("acme", 30, 10, MINUTE), row("acme", 30, 10, MINUTE),
                row("acme", 30, 10, MINUTE));
        planner.offer(three, 0);

        assertThat(step(planner).prefill()).containsExactly(three.get(0), three.get(1));
        assertThat(planner.reservedTokens()).isEqualTo(80);
        assertThat(step(planner).prefill()).isEmpty();

        finish(planner, three.get(0));
        assertThat(planner.reservedTokens()).isEqualTo(40);
        assertThat(step(planner).prefill()).containsExactly(three.get(2));
        assertThat(planner.reservedTokens()).isEqualTo(80);
    }

    @Test
    void aSmallRowOfAnotherTenantGoesPastALargeRowThatDoesNotFit() {
        // the cache holds running rows at the longest one's length: 2 x 60 does not fit 100, 2 x 30 does
        StepPlanner planner = planner(8, 64, 100);
        Generation running1 = row("acme", 20, 10, MINUTE);
        planner.offer(List.of(running1), 0);
        step(planner);
        Generation large = row("acme", 50, 10, MINUTE);
        Generation small = row("globex", 10, 10, MINUTE);
        planner.offer(List.of(large), 0);
        planner.offer(List.of(small), 0);

        assertThat(step(planner).prefill()).containsExactly(small);
        assertThat(planner.waitingRows()).isEqualTo(1);
    }

    @Test
    void shortRowsShareTheBudgetWhileALongRowAdmitsFewerBesideIt() {
        // the cache holds running rows at the longest one's length: 1,000 tokens hold 10 rows of 100, or a row of
        // 500 and one more
        StepPlanner planner = planner(16, 64, 1000);
        List<Generation> shortRows = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            shortRows.add(row("t" + i, 90, 10, MINUTE));
        }
        for (Generation g : shortRows) {
            planner.offer(List.of(g), 0);
        }
        assertThat(step(planner).prefill()).hasSize(10);
        assertThat(planner.reservedTokens()).isEqualTo(1000);
        for (Generation g : new ArrayList<>(running)) {
            finish(planner, g);
        }
        assertThat(step(planner).prefill()).containsExactly(shortRows.get(10));
        finish(planner, shortRows.get(10));

        Generation longRow = row("acme", 400, 100, MINUTE);
        planner.offer(List.of(longRow), 0);
        planner.offer(rows("globex", 3), 0);
        StepPlan plan = step(planner);
        assertThat(plan.prefill()).hasSize(2).contains(longRow);
        assertThat(planner.waitingRows()).isEqualTo(2);
        finish(planner, longRow);
        assertThat(step(planner).prefill()).as("short rows again").hasSize(2);
    }

    @Test
    void anIdleEngineAdmitsOneRowOverTheBudgetButNotASecond() {
        StepPlanner planner = planner(8, 64, 10);
        Generation huge = row("acme", 40, 20, MINUTE);
        Generation next = row("acme", 40, 20, MINUTE);
        planner.offer(List.of(huge, next), 0);

        assertThat(step(planner).prefill()).containsExactly(huge);
        assertThat(planner.reservedTokens()).isEqualTo(60);
        assertThat(step(planner).prefill()).as("not idle any more").isEmpty();
        finish(planner, huge);
        assertThat(planner.reservedTokens()).isZero();
        assertThat(step(planner).prefill()).containsExactly(next);
    }

    @Test
    void cancelledRowsRetireWhetherWaitingOrRunningAndFreeTheirSlotForThisStep() {
        StepPlanner planner = planner(2, 64, 1 << 20);
        List<Generation> four = rows("acme", 4);
        planner.offer(four, 0);
        step(planner);
        four.get(0).cancel();
        four.get(2).cancel();

        StepPlan plan = step(planner);

        assertThat(plan.retire()).containsExactly(new StepPlan.Retirement(four.get(0), FinishReason.CANCELLED),
                new StepPlan.Retirement(four.get(2), FinishReason.CANCELLED));
        assertThat(plan.decode()).containsExactly(four.get(1));
        assertThat(plan.prefill()).containsExactly(four.get(3));
        assertThat(four.get(3).state()).isEqualTo(RowState.PREFILLING);
        assertThat(four.get(2).state()).as("never admitted").isEqualTo(RowState.WAITING);
        assertThat(planner.waitingRows()).isZero();
        assertThat(planner.reservedTokens()).isEqualTo(2 * 8);
    }

    @Test
    void rowsPastTheirDeadlineRetireAsTimedOut() {
        StepPlanner planner = planner(1, 64, 1 << 20);
        long start = System.nanoTime();
        Generation first = row("acme", 4, 4, TimeUnit.SECONDS.toNanos(10));
        Generation second = row("acme", 4, 4, TimeUnit.SECONDS.toNanos(10));
        planner.offer(List.of(first, second), start);
        assertThat(step(planner, start).prefill()).containsExactly(first);

        StepPlan late = step(planner, start + TimeUnit.SECONDS.toNanos(11));

        assertThat(late.retire()).containsExactly(new StepPlan.Retirement(first, FinishReason.TIMEOUT),
                new StepPlan.Retirement(second, FinishReason.TIMEOUT));
        assertThat(late.prefill()).isEmpty();
        assertThat(late.decode()).isEmpty();
        assertThat(planner.waitingRows()).isZero();
        assertThat(planner.reservedTokens()).isZero();
    }

    @Test
    void aFullQueueRefusesARequestWholeAndQueuesNothingOfIt() {
        StepPlanner planner = planner(1, 4, 1 << 20);
        assertThat(planner.offer(rows("acme", 3), 0)).isTrue();

        assertThat(planner.offer(rows("acme", 2), 0)).isFalse();

        assertThat(planner.waitingRows()).isEqualTo(3);
        assertThat(planner.offer(rows("acme", 1), 0)).isTrue();
        assertThat(planner.offer(rows("acme", 1), 0)).isFalse();
    }

    @Test
    void aFullQueueStillTakesATenantBelowItsFairShare() {
        StepPlanner planner = planner(1, 4, 1 << 20);
        planner.offer(rows("acme", 4), 0);
        assertThat(planner.offer(rows("acme", 1), 0)).isFalse();

        // two tenants waiting: an equal share of 4 is 2
        assertThat(planner.offer(rows("globex", 2), 0)).isTrue();
        assertThat(planner.offer(rows("globex", 1), 0)).isFalse();
        assertThat(planner.waitingRows()).isEqualTo(6);
    }

    @Test
    void fairShareAdmissionsStopAtTwiceTheQueueLimit() {
        StepPlanner planner = planner(1, 8, 1 << 20);
        planner.offer(rows("acme", 8), 0);
        // each newcomer is within its share (8 / tenants) until the queue holds 16 rows
        assertThat(planner.offer(rows("t1", 4), 0)).isTrue();
        assertThat(planner.offer(rows("t2", 2), 0)).isTrue();
        assertThat(planner.offer(rows("t3", 2), 0)).isTrue();
        assertThat(planner.waitingRows()).isEqualTo(16);

        assertThat(planner.offer(rows("t4", 1), 0)).isFalse();
        assertThat(planner.waitingRows()).isEqualTo(16);
    }

    @Test
    void releaseGivesTokensBackOnceAndNothingForARowNeverAdmitted() {
        StepPlanner planner = planner(1, 8, 1 << 20);
        Generation a = row("acme", 10, 5, MINUTE);
        Generation waiting = row("acme", 10, 5, MINUTE);
        planner.offer(List.of(a, waiting), 0);
        step(planner);
        assertThat(planner.reservedTokens()).isEqualTo(15);

        planner.release(waiting);
        assertThat(planner.reservedTokens()).isEqualTo(15);
        planner.release(a);
        planner.release(a);
        assertThat(planner.reservedTokens()).isZero();
    }

    @Test
    void takeAllWaitingEmptiesTheQueueForShutdown() {
        StepPlanner planner = planner(1, 8, 1 << 20);
        List<Generation> acme = rows("acme", 2);
        List<Generation> globex = rows("globex", 1);
        planner.offer(acme, 0);
        planner.offer(globex, 0);

        assertThat(planner.takeAllWaiting()).containsExactlyInAnyOrder(acme.get(0), acme.get(1), globex.get(0));
        assertThat(planner.waitingRows()).isZero();
        assertThat(step(planner).isEmpty()).isTrue();
    }

    /**
     * Prompts longer than one prefill pass are admitted one at a time (the engine prefills such a row a pass per
     * step); short ones beside it as usual. The row in its passes holds a batch slot and its reservation, and retires
     * when cancelled.
     */
    @Test
    void longPromptsAreAdmittedOneAtATimeAndTheRowInItsPassesHoldsItsPlace() {
        StepPlanner planner = new StepPlanner(new EngineSettings(3, 64, 10_000, Duration.ofMinutes(1),
                Duration.ofSeconds(1)), 512);
        Generation longA = row("acme", 2_000, 100, MINUTE);
        Generation longB = row("globex", 600, 10, MINUTE);
        Generation shortC = row("initech", 20, 10, MINUTE);
        Generation shortD = row("acme", 20, 10, MINUTE);
        planner.offer(List.of(longA, shortD), 0);
        planner.offer(List.of(longB), 0);
        planner.offer(List.of(shortC), 0);

        StepPlan plan = planner.schedule(List.of(), List.of(), 0);
        assertThat(plan.prefill()).as("tenants in turn; globex's long prompt waits while acme's is admitted")
                .containsExactly(longA, shortC, shortD);
        assertThat(planner.reservedTokens()).isEqualTo(2_100 + 30 + 30);
        // longA is in its passes, shortC and shortD decode: with it they fill the 3 slots.
        plan = planner.schedule(List.of(shortC, shortD), List.of(longA), 0);
        assertThat(plan.prefill()).isEmpty();
        planner.release(shortD);
        plan = planner.schedule(List.of(shortC), List.of(longA), 0);
        assertThat(plan.prefill()).as("a free slot, but no second long prompt while one is in its passes").isEmpty();

        longA.cancel();
        plan = planner.schedule(List.of(shortC), List.of(longA), 0);
        assertThat(plan.retire()).extracting(StepPlan.Retirement::row).containsExactly(longA);
        assertThat(plan.retire().get(0).reason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(plan.prefill()).as("its slot and tokens are free for the next long prompt").containsExactly(longB);
        assertThat(planner.reservedTokens()).isEqualTo(30 + 610);
    }

    /** The other choices of a long prompt's request (the same prompt) are admitted with it, to share its passes. */
    @Test
    void aLongPromptsOtherChoicesComeWithIt() {
        StepPlanner planner = new StepPlanner(new EngineSettings(4, 64, 10_000, Duration.ofMinutes(1),
                Duration.ofSeconds(1)), 512);
        int[] prompt = new int[900];
        List<Generation> choices = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            choices.add(new Generation("acme", prompt, SamplingParams.greedy(10), null, IGNORE, MINUTE));
        }
        Generation otherLong = row("globex", 700, 10, MINUTE);
        planner.offer(choices, 0);
        planner.offer(List.of(otherLong), 0);
        StepPlan plan = planner.schedule(List.of(), List.of(), 0);
        assertThat(plan.prefill()).containsExactlyElementsOf(choices);
        assertThat(planner.reservedTokens()).isEqualTo(3 * 910);
        plan = planner.schedule(List.of(), choices, 0);
        assertThat(plan.prefill()).as("the three hold three of four slots, and a long prompt is in its passes")
                .isEmpty();
        choices.get(0).cancel();
        plan = planner.schedule(List.of(), choices, 0);
        assertThat(plan.retire()).extracting(StepPlan.Retirement::row).containsExactly(choices.get(0));
        assertThat(plan.prefill()).isEmpty();
    }
}

/*
 * Specification of the opt-in exclusive modes (one mutating thread at a
 * time, counters updated without locked read-modify-writes): a breaker in
 * exclusive mode and one in the default mode, driven by the same fixed
 * pseudo-random sequence of allows, records (success, failure, ignored,
 * slow, stale), polls, admin transitions and clock moves (also backwards),
 * make the same decisions, hand out the same tickets, report the same
 * events and end in the same state word for word; the same for
 * gwlb_resources_acquire/release vs their _exclusive variants.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/breaker.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define US GWLB_NS_PER_US
#define T0 (1000 * SEC)
#define STEPS 50000

/* Per-step comparisons are counted, not asserted (an assertion per step
 * costs a write to Check's pipe); the test asserts zero at the end. */
static uint64_t g_mismatch;
#define SAME(a, b) (g_mismatch += ((a) != (b)))

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

typedef struct event_log {
    uint64_t n;
    uint64_t hash; /* order-sensitive digest of every event */
    uint64_t opened;
} event_log;

static void log_event(const gwlb_breaker_event *ev, void *user)
{
    event_log *log = user;
    uint64_t v[6] = {ev->from, ev->to, ev->cause, ev->generation, ev->now, ev->wait_ns};
    for (int i = 0; i < 6; i++)
        log->hash = (log->hash ^ v[i]) * UINT64_C(0x100000001b3);
    log->n++;
    if (ev->to == GWLB_BREAKER_OPEN)
        log->opened++;
}

/* One breaker and its own copy of the config (the callback logs per breaker). */
typedef struct side {
    gwlb_breaker b;
    gwlb_breaker_config cfg;
    event_log log;
    uint64_t tickets[16];
    int pending;
} side;

static void setup(side *sd, const gwlb_breaker_config *cfg, int exclusive)
{
    memset(sd, 0, sizeof *sd);
    sd->cfg = *cfg;
    sd->cfg.on_transition = log_event;
    sd->cfg.user_data = &sd->log;
    ck_assert_int_eq(gwlb_breaker_init(&sd->b, &sd->cfg, 42, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_set_exclusive(&sd->b, exclusive), 0);
    ck_assert_int_eq(gwlb_breaker_is_exclusive(&sd->b), exclusive);
}

/* Drive both sides with the same sequence; every result must agree. */
static void run_same_sequence(const gwlb_breaker_config *cfg, uint64_t seed, uint64_t min_trips)
{
    static side sh, ex; /* default (shared) mode, exclusive mode */
    setup(&sh, cfg, 0);
    setup(&ex, cfg, 1);
    g_mismatch = 0;
    uint64_t rng = seed, now = T0;
    uint64_t stale_ticket = 0;
    for (int step = 0; step < STEPS; step++) {
        uint64_t r = next(&rng);
        unsigned op = (unsigned)(r % 100);
        if (op < 45) { /* allow */
            uint64_t t1 = 7, t2 = 7;
            int a = gwlb_breaker_allow(&sh.b, &sh.cfg, now, &t1);
            int b = gwlb_breaker_allow(&ex.b, &ex.cfg, now, &t2);
            SAME(a, b);
            SAME(t1, t2);
            if (a == 0) {
                if (sh.pending == 16) { /* full: the oldest becomes a straggler */
                    stale_ticket = sh.tickets[0];
                    memmove(sh.tickets, sh.tickets + 1, 15 * sizeof sh.tickets[0]);
                    sh.pending--;
                }
                sh.tickets[sh.pending++] = t1;
            }
        } else if (op < 85) { /* record a pending call */
            if (sh.pending == 0)
                continue;
            unsigned k = (unsigned)((r >> 8) % (unsigned)sh.pending);
            unsigned o = (unsigned)((r >> 16) % 10);
            int outcome = o < 6 ? GWLB_BREAKER_SUCCESS
                          : o < 9 ? GWLB_BREAKER_FAILURE
                                  : GWLB_BREAKER_IGNORED;
            uint64_t dur = ((r >> 24) % 8 == 0) ? 5 * SEC : 1000;
            uint64_t t = sh.tickets[k];
            sh.tickets[k] = sh.tickets[--sh.pending];
            SAME(gwlb_breaker_record(&sh.b, &sh.cfg, t, outcome, dur, now),
                             gwlb_breaker_record(&ex.b, &ex.cfg, t, outcome, dur, now));
        } else if (op < 95) { /* time moves, now and then backwards */
            uint64_t d = (r >> 8) % (200 * US);
            if ((r >> 40) % 16 == 0)
                now -= d / 4;
            else
                now += d;
        } else if (op < 97) {
            SAME(gwlb_breaker_poll(&sh.b, &sh.cfg, now),
                             gwlb_breaker_poll(&ex.b, &ex.cfg, now));
        } else if (op < 98) { /* a straggler from an older generation */
            if (stale_ticket != 0)
                SAME(
                    gwlb_breaker_record(&sh.b, &sh.cfg, stale_ticket, GWLB_BREAKER_FAILURE, 0,
                                        now),
                    gwlb_breaker_record(&ex.b, &ex.cfg, stale_ticket, GWLB_BREAKER_FAILURE, 0,
                                        now));
        } else if ((r >> 8) % 50 == 0) { /* rarely, the host steps in */
            int st = (int)((r >> 16) % 6);
            if (st == GWLB_BREAKER_FORCED_OPEN || st == GWLB_BREAKER_DISABLED)
                st = GWLB_BREAKER_CLOSED; /* keep the run moving */
            SAME(gwlb_breaker_transition(&sh.b, &sh.cfg, st, now),
                             gwlb_breaker_transition(&ex.b, &ex.cfg, st, now));
        }
        SAME(gwlb_breaker_state(&sh.b), gwlb_breaker_state(&ex.b));
    }
    ck_assert_uint_eq(g_mismatch, 0);
    ck_assert_uint_eq(sh.log.n, ex.log.n);
    ck_assert_uint_eq(sh.log.hash, ex.log.hash);
    ck_assert_uint_ge(sh.log.opened, min_trips); /* the run really flapped */

    gwlb_breaker_stats s1, s2;
    ck_assert_int_eq(gwlb_breaker_get_stats(&sh.b, &sh.cfg, now, &s1), 0);
    ck_assert_int_eq(gwlb_breaker_get_stats(&ex.b, &ex.cfg, now, &s2), 0);
    ck_assert_int_eq(memcmp(&s1, &s2, sizeof s1), 0);
    ck_assert_uint_gt(s1.failures, 250);
    ck_assert_uint_gt(s1.rejected, 250);
    gwlb_breaker_counts c1, c2;
    gwlb_breaker_get_counts(&sh.b, &c1);
    gwlb_breaker_get_counts(&ex.b, &c2);
    ck_assert_int_eq(memcmp(&c1, &c2, sizeof c1), 0);
    /* word for word the same state, apart from the mode itself */
    ck_assert_int_eq(gwlb_breaker_set_exclusive(&ex.b, 0), 0);
    ck_assert_int_eq(memcmp(&sh.b, &ex.b, sizeof sh.b), 0);
}

START_TEST(test_exclusive_gobreaker_defaults_decide_the_same)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_ns = 100 * US;
    cfg.fast_counters = (uint32_t)_i;
    run_same_sequence(&cfg, 1, 20);
}
END_TEST

START_TEST(test_exclusive_count_window_decides_the_same)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init_resilience4j(&cfg);
    cfg.failure_rate_percent = 30;
    cfg.slow_call_rate_percent = 20;
    cfg.slow_call_ns = SEC;
    cfg.window_size = 20;
    cfg.minimum_calls = 5;
    cfg.half_open_permits = 3;
    cfg.half_open_successes = 2;
    cfg.half_open_failures = 2;
    cfg.half_open_max_wait_ns = 300 * US;
    cfg.open_wait_ns = 100 * US;
    cfg.fast_counters = (uint32_t)_i;
    run_same_sequence(&cfg, 2, 100);
}
END_TEST

START_TEST(test_exclusive_time_window_with_backoff_and_jitter_decides_the_same)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init_resilience4j(&cfg);
    cfg.failure_rate_percent = 30;
    cfg.slow_call_rate_percent = 0;
    cfg.window_kind = GWLB_BREAKER_WINDOW_TIME;
    cfg.window_size = 8;
    cfg.window_bucket_ns = 25 * US;
    cfg.minimum_calls = 4;
    cfg.consecutive_failures = 4;
    cfg.half_open_permits = 2;
    cfg.half_open_successes = 1;
    cfg.half_open_failures = 1;
    cfg.open_wait_ns = 50 * US;
    cfg.open_wait_multiplier_percent = 200;
    cfg.open_wait_max_ns = 400 * US;
    cfg.open_wait_jitter_percent = 25;
    cfg.fast_counters = (uint32_t)_i;
    run_same_sequence(&cfg, 3, 100);
}
END_TEST

START_TEST(test_set_exclusive_checks_its_arguments_and_survives_transitions)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    gwlb_breaker b;
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_is_exclusive(&b), 0); /* default: shared */
    gwlb_breaker before = b;
    ck_assert_int_eq(gwlb_breaker_set_exclusive(NULL, 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_set_exclusive(&b, 2), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_set_exclusive(&b, -1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_is_exclusive(NULL), GWLB_EINVAL);
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
    ck_assert_int_eq(gwlb_breaker_set_exclusive(&b, 1), 0);
    uint32_t gen = gwlb_breaker_generation(&b);
    ck_assert_uint_eq(gen, 1); /* the mode is not a state change */
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0), 0);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_HALF_OPEN, T0), 0);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_CLOSED, T0), 0);
    ck_assert_int_eq(gwlb_breaker_is_exclusive(&b), 1);
    ck_assert_uint_eq(gwlb_breaker_generation(&b), 4);
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_is_exclusive(&b), 0); /* init resets the mode */
}
END_TEST

/* ---- resource limits ---------------------------------------------------- */

START_TEST(test_exclusive_resources_decide_the_same)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    cfg.max[GWLB_RESOURCE_CONNECTIONS] = 5;
    cfg.max[GWLB_RESOURCE_PENDING] = 3;
    cfg.max[GWLB_RESOURCE_REQUESTS] = 12;
    cfg.retry_budget = (uint32_t)_i;
    gwlb_resources sh, ex;
    gwlb_resources_init(&sh);
    gwlb_resources_init(&ex);
    uint64_t rng = 7, taken = 0, refused = 0, released = 0, unheld = 0;
    g_mismatch = 0;
    for (int step = 0; step < STEPS; step++) {
        uint64_t r = next(&rng);
        int kind = (int)(r % GWLB_RESOURCE_COUNT);
        if ((r >> 8) % 100 < 55) {
            int a = gwlb_resources_acquire(&sh, &cfg, kind);
            SAME(a, gwlb_resources_acquire_exclusive(&ex, &cfg, kind));
            taken += a == 0;
            refused += a == GWLB_ELIMIT;
        } else {
            int a = gwlb_resources_release(&sh, kind);
            SAME(a, gwlb_resources_release_exclusive(&ex, kind));
            released += a == 0;
            unheld += a == GWLB_ESTATE;
        }
        SAME(memcmp(&sh, &ex, sizeof sh), 0);
    }
    ck_assert_uint_eq(g_mismatch, 0);
    ck_assert_uint_gt(taken, 2500);
    ck_assert_uint_gt(refused, 250);
    ck_assert_uint_gt(released, 2500);
    ck_assert_uint_gt(unheld, 250);
    /* bad input: the same specific codes, nothing changes */
    ck_assert_int_eq(gwlb_resources_acquire_exclusive(NULL, &cfg, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_acquire_exclusive(&ex, NULL, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_acquire_exclusive(&ex, &cfg, GWLB_RESOURCE_COUNT),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_acquire_exclusive(&ex, &cfg, -1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_release_exclusive(NULL, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_release_exclusive(&ex, GWLB_RESOURCE_COUNT), GWLB_EINVAL);
    ck_assert_int_eq(memcmp(&sh, &ex, sizeof sh), 0);
}
END_TEST

START_TEST(test_exclusive_release_without_acquire_is_refused)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    gwlb_resources r;
    gwlb_resources_init(&r);
    ck_assert_int_eq(gwlb_resources_release_exclusive(&r, GWLB_RESOURCE_REQUESTS), GWLB_ESTATE);
    ck_assert_uint_eq(gwlb_resources_active(&r, GWLB_RESOURCE_REQUESTS), 0);
    cfg.max[GWLB_RESOURCE_REQUESTS] = 1;
    ck_assert_int_eq(gwlb_resources_acquire_exclusive(&r, &cfg, GWLB_RESOURCE_REQUESTS), 0);
    ck_assert_int_eq(gwlb_resources_acquire_exclusive(&r, &cfg, GWLB_RESOURCE_REQUESTS),
                     GWLB_ELIMIT);
    ck_assert_uint_eq(r.overflows[GWLB_RESOURCE_REQUESTS], 1);
    ck_assert_int_eq(gwlb_resources_release_exclusive(&r, GWLB_RESOURCE_REQUESTS), 0);
    ck_assert_uint_eq(gwlb_resources_active(&r, GWLB_RESOURCE_REQUESTS), 0);
}
END_TEST

static Suite *exclusive_suite(void)
{
    Suite *s = suite_create("breaker-exclusive");
    TCase *tc = tcase_create("breaker");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_exclusive_gobreaker_defaults_decide_the_same, 0, 2);
    tcase_add_loop_test(tc, test_exclusive_count_window_decides_the_same, 0, 2);
    tcase_add_loop_test(tc, test_exclusive_time_window_with_backoff_and_jitter_decides_the_same,
                        0, 2);
    tcase_add_test(tc, test_set_exclusive_checks_its_arguments_and_survives_transitions);
    suite_add_tcase(s, tc);
    tc = tcase_create("resources");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_exclusive_resources_decide_the_same, 0, 2);
    tcase_add_test(tc, test_exclusive_release_without_acquire_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(exclusive_suite());
}

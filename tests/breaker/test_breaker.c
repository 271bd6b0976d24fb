/*
 * Specification of the circuit breaker: gobreaker's default-breaker sequence
 * step by step with its counts, resilience4j's windows (count and time
 * based), slow calls, the special states, half-open permits and maximum
 * wait, backoff with seeded jitter, generation tickets, and bad input.
 * Time is driven by hand; nothing sleeps.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/breaker.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define MS GWLB_NS_PER_MS
#define T0 (1000 * SEC) /* an arbitrary monotonic start */

/* ---- helpers ------------------------------------------------------------ */

typedef struct event_log {
    int n;
    gwlb_breaker_event ev[64];
} event_log;

static void log_event(const gwlb_breaker_event *ev, void *user)
{
    event_log *log = user;
    if (log->n < 64)
        log->ev[log->n++] = *ev;
}

/* allow + record; returns the allow result (record is asserted to be 0). */
static int call(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now, int outcome,
                uint64_t duration)
{
    uint64_t t = 0;
    int rc = gwlb_breaker_allow(b, cfg, now, &t);
    if (rc == 0)
        ck_assert_int_eq(gwlb_breaker_record(b, cfg, t, outcome, duration, now), 0);
    else
        ck_assert_uint_eq(t, 0);
    return rc;
}

static int succeed_call(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now)
{
    return call(b, cfg, now, GWLB_BREAKER_SUCCESS, 0);
}

static int fail_call(gwlb_breaker *b, const gwlb_breaker_config *cfg, uint64_t now)
{
    return call(b, cfg, now, GWLB_BREAKER_FAILURE, 0);
}

#define ASSERT_COUNTS(b, req, ts, tf, cs, cf)                                  \
    do {                                                                       \
        gwlb_breaker_counts c_;                                                \
        ck_assert_int_eq(gwlb_breaker_get_counts((b), &c_), 0);                \
        ck_assert_uint_eq(c_.requests, (req));                                 \
        ck_assert_uint_eq(c_.total_successes, (ts));                           \
        ck_assert_uint_eq(c_.total_failures, (tf));                            \
        ck_assert_uint_eq(c_.consecutive_successes, (cs));                     \
        ck_assert_uint_eq(c_.consecutive_failures, (cf));                      \
    } while (0)

static gwlb_breaker_stats stats_at(const gwlb_breaker *b, const gwlb_breaker_config *cfg,
                                   uint64_t now)
{
    gwlb_breaker_stats st;
    ck_assert_int_eq(gwlb_breaker_get_stats(b, cfg, now, &st), 0);
    return st;
}

/* A count-window config: rate%, window, minimum calls; everything else off. */
static gwlb_breaker_config count_cfg(uint32_t rate, uint32_t window, uint32_t min)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init_resilience4j(&cfg);
    cfg.failure_rate_percent = rate;
    cfg.slow_call_rate_percent = 0;
    cfg.window_size = window;
    cfg.minimum_calls = min;
    cfg.half_open_permits = 1;
    cfg.half_open_successes = 1;
    cfg.half_open_failures = 1;
    return cfg;
}

static gwlb_breaker_config time_cfg(void)
{
    gwlb_breaker_config cfg = count_cfg(50, 10, 4);
    cfg.window_kind = GWLB_BREAKER_WINDOW_TIME; /* last 10 one-second buckets */
    cfg.window_bucket_ns = SEC;
    return cfg;
}

/* ---- gobreaker ---------------------------------------------------------- */

START_TEST(test_default_config_is_gobreakers)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    ck_assert_uint_eq(cfg.consecutive_failures, 6); /* ReadyToTrip: > 5 */
    ck_assert_uint_eq(cfg.half_open_permits, 1);    /* MaxRequests 0 -> 1 */
    ck_assert_uint_eq(cfg.half_open_successes, 1);
    ck_assert_uint_eq(cfg.half_open_failures, 1);
    ck_assert_uint_eq(cfg.open_wait_ns, 60 * SEC); /* default Timeout */
    ck_assert_uint_eq(cfg.window_kind, GWLB_BREAKER_WINDOW_NONE);
    ck_assert_int_eq(gwlb_breaker_config_validate(&cfg, NULL), 0);
}
END_TEST

/* gobreaker v2 gobreaker_test.go TestDefaultCircuitBreaker, step by step
 * (loop 0: exact counters, loop 1: fast_counters; sequential calls agree). */
START_TEST(test_gobreaker_default_breaker_sequence)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.fast_counters = (uint32_t)_i;
    event_log log = {0};
    cfg.on_transition = log_event;
    cfg.user_data = &log;
    gwlb_breaker b;
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);

    uint64_t now = T0;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fail_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 5, 0, 5, 0, 5);

    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 6, 1, 5, 1, 0);

    ck_assert_int_eq(fail_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 7, 1, 6, 0, 1);

    /* closed -> open: 6 consecutive failures */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fail_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 11, 1, 10, 0, 5);
    ck_assert_int_eq(fail_call(&b, &cfg, now), 0); /* the 6th in a row */
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_OPEN);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);

    ck_assert_int_eq(succeed_call(&b, &cfg, now), GWLB_BREAKER_REJECT_OPEN);
    ck_assert_int_eq(fail_call(&b, &cfg, now), GWLB_BREAKER_REJECT_OPEN);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);

    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + 59 * SEC), GWLB_BREAKER_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + 60 * SEC - MS), GWLB_BREAKER_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + 60 * SEC), GWLB_BREAKER_OPEN);

    /* open -> half-open: over the timeout */
    now += 60 * SEC + 1;
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_HALF_OPEN);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);

    /* half-open -> open */
    ck_assert_int_eq(fail_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_OPEN);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);

    /* open -> half-open */
    now += 60 * SEC + 1;
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_HALF_OPEN);

    /* half-open -> closed */
    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);

    /* the transitions, with time and cause */
    static const struct { int from, to, cause; } want[] = {
        {GWLB_BREAKER_CLOSED, GWLB_BREAKER_OPEN, GWLB_BREAKER_CAUSE_CONSECUTIVE_FAILURES},
        {GWLB_BREAKER_OPEN, GWLB_BREAKER_HALF_OPEN, GWLB_BREAKER_CAUSE_WAIT_ELAPSED},
        {GWLB_BREAKER_HALF_OPEN, GWLB_BREAKER_OPEN, GWLB_BREAKER_CAUSE_PROBE_FAILURES},
        {GWLB_BREAKER_OPEN, GWLB_BREAKER_HALF_OPEN, GWLB_BREAKER_CAUSE_WAIT_ELAPSED},
        {GWLB_BREAKER_HALF_OPEN, GWLB_BREAKER_CLOSED, GWLB_BREAKER_CAUSE_PROBE_SUCCESSES},
    };
    ck_assert_int_eq(log.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(log.ev[i].from, (uint32_t)want[i].from);
        ck_assert_uint_eq(log.ev[i].to, (uint32_t)want[i].to);
        ck_assert_uint_eq(log.ev[i].cause, (uint32_t)want[i].cause);
        ck_assert_uint_eq(log.ev[i].generation, (uint32_t)(2 + i));
    }
    ck_assert_uint_eq(log.ev[0].now, T0);
    ck_assert_uint_eq(log.ev[0].wait_ns, 60 * SEC);
    ck_assert_uint_eq(log.ev[1].now, T0 + 60 * SEC + 1);
    ck_assert_uint_eq(log.ev[4].now, now);

    gwlb_breaker_stats st = stats_at(&b, &cfg, now);
    ck_assert_uint_eq(st.transitions, 5);
    ck_assert_uint_eq(st.times_opened, 2);
    ck_assert_uint_eq(st.rejected, 2);
    ck_assert_uint_eq(st.admitted, 14);
    ck_assert_uint_eq(st.failures, 12);
    ck_assert_uint_eq(st.successes, 2);
    ck_assert_uint_eq(st.last_cause, GWLB_BREAKER_CAUSE_PROBE_SUCCESSES);
    ck_assert_uint_eq(st.last_change_ns, now);
}
END_TEST

START_TEST(test_fast_counters_count_calls_when_they_end)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.fast_counters = 1;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t t, t2;
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, &t), 0);
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, &t2), 0);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0); /* in flight: not counted yet */
    gwlb_breaker_record(&b, &cfg, t, GWLB_BREAKER_FAILURE, 0, T0);
    gwlb_breaker_record(&b, &cfg, t2, GWLB_BREAKER_IGNORED, 0, T0);
    ASSERT_COUNTS(&b, 2, 0, 1, 0, 1);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).admitted, 2);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(succeed_call(&b, &cfg, T0), GWLB_BREAKER_REJECT_OPEN);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).rejected, 5); /* exact from one thread */
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);
}
END_TEST

/* gobreaker's custom breaker: MaxRequests 3 in half-open, the 4th rejected. */
START_TEST(test_half_open_admits_exactly_its_permits)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_permits = 3;
    cfg.half_open_successes = 3;
    cfg.open_wait_ns = 90 * SEC;
    gwlb_breaker b;
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0), 0);
    uint64_t now = T0 + 90 * SEC + 1;
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_HALF_OPEN);

    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0);
    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_HALF_OPEN);
    ASSERT_COUNTS(&b, 2, 2, 0, 2, 0);

    uint64_t slow_one;
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, now, &slow_one), 0); /* 3rd permit */
    ASSERT_COUNTS(&b, 3, 2, 0, 2, 0);
    ck_assert_int_eq(succeed_call(&b, &cfg, now), GWLB_BREAKER_REJECT_HALF_OPEN_FULL);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, slow_one, GWLB_BREAKER_SUCCESS, 0, now), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    ASSERT_COUNTS(&b, 0, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_open_to_half_open_admits_the_calling_request_as_first_probe)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_permits = 2;
    cfg.half_open_successes = 2;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0);
    uint64_t now = T0 + 60 * SEC + 1;
    uint64_t t1, t2, t3;
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, now, &t1), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_HALF_OPEN);
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, now, &t2), 0);
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, now, &t3), GWLB_BREAKER_REJECT_HALF_OPEN_FULL);
    ASSERT_COUNTS(&b, 2, 0, 0, 0, 0);
}
END_TEST

/* Generation counting: a call admitted before the last change is ignored. */
START_TEST(test_result_from_an_older_generation_is_ignored)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t straggler;
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, &straggler), 0);
    for (int i = 0; i < 6; i++)
        fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
    uint64_t now = T0 + 61 * SEC;
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now), GWLB_BREAKER_HALF_OPEN);

    gwlb_breaker before = b;
    /* the straggler's failure must not re-open the fresh half-open state */
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, straggler, GWLB_BREAKER_FAILURE, 0, now),
                     GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_HALF_OPEN);
    gwlb_breaker_stats st = stats_at(&b, &cfg, now);
    ck_assert_uint_eq(st.stale_results, 1);
    b.stale = before.stale; /* the only word that changed */
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);

    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
}
END_TEST

START_TEST(test_result_for_an_unknown_generation_is_refused)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t t;
    gwlb_breaker_allow(&b, &cfg, T0, &t);
    gwlb_breaker before = b;
    uint64_t future = t + (UINT64_C(5) << 8); /* generation 6: never issued */
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, future, GWLB_BREAKER_FAILURE, 0, T0),
                     GWLB_EUNKNOWN);
    /* a ticket naming the right generation but another state is forged */
    uint64_t forged = t ^ ((uint64_t)GWLB_BREAKER_HALF_OPEN << 1);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, forged, GWLB_BREAKER_FAILURE, 0, T0),
                     GWLB_EUNKNOWN);
    ck_assert_uint_eq(b.stale, 2);
    b.stale = before.stale;
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, t, GWLB_BREAKER_SUCCESS, 0, T0), 0);
}
END_TEST

START_TEST(test_malformed_ticket_and_outcome_are_invalid_and_change_nothing)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t t;
    gwlb_breaker_allow(&b, &cfg, T0, &t);
    gwlb_breaker before = b;
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, 0, GWLB_BREAKER_FAILURE, 0, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, t & ~UINT64_C(1), GWLB_BREAKER_FAILURE, 0, T0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, t | (UINT64_C(1) << 40),
                                         GWLB_BREAKER_FAILURE, 0, T0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, t, 3, 0, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, t, -1, 0, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_record(NULL, &cfg, t, 0, 0, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_record(&b, NULL, t, 0, 0, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_allow(NULL, &cfg, T0, &t), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_allow(&b, NULL, T0, &t), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, 6, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, -1, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_poll(NULL, &cfg, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_state(NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_get_counts(&b, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_get_stats(&b, &cfg, T0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
}
END_TEST

/* One breaker in one of the four modes of a 0..3 loop test: bit 0
 * fast_counters, bit 1 exclusive. */
static void init_in_mode(gwlb_breaker *b, gwlb_breaker_config *cfg, int mode)
{
    cfg->fast_counters = (uint32_t)(mode & 1);
    ck_assert_int_eq(gwlb_breaker_init(b, cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_set_exclusive(b, mode >> 1), 0);
}

/* gobreaker's Counts after every call against a model, through admin
 * changes between closed, half-open, metrics-only and disabled (where the
 * consecutive counts run since the change: successes and failures there do
 * not end each other's runs), in every counter mode. */
START_TEST(test_counts_match_a_model_after_every_call)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.consecutive_failures = 0; /* nothing trips by itself */
    cfg.half_open_permits = 1000;
    cfg.half_open_successes = 500;
    cfg.half_open_failures = 500;
    gwlb_breaker b;
    init_in_mode(&b, &cfg, _i);
    static const int states[] = {GWLB_BREAKER_CLOSED, GWLB_BREAKER_HALF_OPEN,
                                 GWLB_BREAKER_METRICS_ONLY, GWLB_BREAKER_DISABLED};
    uint64_t rng = 5, mism = 0, calls = 0;
    gwlb_breaker_counts m = {0, 0, 0, 0, 0};
    int st = GWLB_BREAKER_CLOSED;
    for (int phase = 0; phase < 200; phase++) {
        rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        unsigned len = (unsigned)(rng >> 33) % 200;
        if (phase > 0) {
            st = states[(rng >> 20) % 4];
            ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, st, T0), 0);
            memset(&m, 0, sizeof m);
        }
        for (unsigned i = 0; i < len; i++) {
            rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
            unsigned r = (unsigned)(rng >> 33) % 100;
            int outcome = r < 60   ? GWLB_BREAKER_SUCCESS
                          : r < 95 ? GWLB_BREAKER_FAILURE
                                   : GWLB_BREAKER_IGNORED;
            ck_assert_int_eq(call(&b, &cfg, T0, outcome, 0), 0);
            calls++;
            m.requests++;
            if (outcome == GWLB_BREAKER_SUCCESS) {
                m.total_successes++;
                m.consecutive_successes++;
                if (st != GWLB_BREAKER_DISABLED)
                    m.consecutive_failures = 0;
            } else if (outcome == GWLB_BREAKER_FAILURE) {
                m.total_failures++;
                m.consecutive_failures++;
                if (st != GWLB_BREAKER_DISABLED)
                    m.consecutive_successes = 0;
            }
            gwlb_breaker_counts c;
            ck_assert_int_eq(gwlb_breaker_get_counts(&b, &c), 0);
            mism += memcmp(&c, &m, sizeof c) != 0;
        }
        ck_assert_int_eq(gwlb_breaker_state(&b), st);
    }
    ck_assert_uint_eq(mism, 0);
    ck_assert_uint_gt(calls, 15000);
}
END_TEST

/* ---- resilience4j windows ---------------------------------------------- */

START_TEST(test_resilience4j_defaults)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init_resilience4j(&cfg);
    ck_assert_uint_eq(cfg.failure_rate_percent, 50);
    ck_assert_uint_eq(cfg.slow_call_rate_percent, 100);
    ck_assert_uint_eq(cfg.slow_call_ns, 60 * SEC);
    ck_assert_uint_eq(cfg.window_kind, GWLB_BREAKER_WINDOW_COUNT);
    ck_assert_uint_eq(cfg.window_size, 100);
    ck_assert_uint_eq(cfg.minimum_calls, 100);
    ck_assert_uint_eq(cfg.half_open_permits, 10);
    ck_assert_uint_eq(cfg.open_wait_ns, 60 * SEC);
    ck_assert_uint_eq(cfg.consecutive_failures, 0);
    ck_assert_int_eq(gwlb_breaker_config_validate(&cfg, NULL), 0);
}
END_TEST

START_TEST(test_count_window_nothing_trips_below_minimum_calls)
{
    gwlb_breaker_config cfg = count_cfg(50, 100, 10);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(fail_call(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED); /* 9 of 9 failed */
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).window_calls, 9);
    ck_assert_int_eq(fail_call(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).last_cause, GWLB_BREAKER_CAUSE_FAILURE_RATE);
}
END_TEST

START_TEST(test_count_window_trips_at_exactly_fifty_percent)
{
    gwlb_breaker_config cfg = count_cfg(50, 100, 10);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    for (int i = 0; i < 5; i++)
        succeed_call(&b, &cfg, T0);
    for (int i = 0; i < 4; i++)
        fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    fail_call(&b, &cfg, T0); /* 5 of 10 = 50 % >= 50 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

START_TEST(test_count_window_stays_closed_below_the_rate)
{
    gwlb_breaker_config cfg = count_cfg(50, 100, 10);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    for (int i = 0; i < 6; i++)
        succeed_call(&b, &cfg, T0);
    for (int i = 0; i < 4; i++)
        fail_call(&b, &cfg, T0); /* 4/10 */
    fail_call(&b, &cfg, T0);     /* 5/11 = 45 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.window_calls, 11);
    ck_assert_uint_eq(st.window_failures, 5);
    fail_call(&b, &cfg, T0); /* 6/12 = 50 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

START_TEST(test_count_window_of_100_keeps_only_the_last_100_calls)
{
    gwlb_breaker_config cfg = count_cfg(50, 100, 10);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    /* 51 successes then 49 failures: 49 % */
    for (int i = 0; i < 51; i++)
        succeed_call(&b, &cfg, T0);
    for (int i = 0; i < 49; i++)
        fail_call(&b, &cfg, T0);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    ck_assert_uint_eq(st.window_calls, 100);
    ck_assert_uint_eq(st.window_failures, 49);
    /* 51 successes replace the 51 oldest successes: the failures are now oldest */
    for (int i = 0; i < 51; i++)
        succeed_call(&b, &cfg, T0);
    /* each new failure replaces one of the oldest failures: still 49 % */
    for (int i = 0; i < 49; i++) {
        fail_call(&b, &cfg, T0);
        ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    }
    st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.window_calls, 100);
    ck_assert_uint_eq(st.window_failures, 49);
    /* the next one replaces the oldest success: 50 of 100 */
    fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

START_TEST(test_count_window_of_any_size_holds_exactly_the_last_n_calls)
{
    static const uint32_t sizes[] = {1, 2, 7, 63, 64, 65, 100, 999, 1000, 1024};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        gwlb_breaker_config cfg = count_cfg(0, n, 1);
        gwlb_breaker b;
        ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
        for (uint32_t i = 0; i < 3 * n + 5; i++)
            call(&b, &cfg, T0, i >= 2 * n + 5 + n / 2 ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS,
                 0);
        gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
        ck_assert_uint_eq(st.window_calls, n);
        ck_assert_uint_eq(st.window_failures, n - n / 2);
    }
}
END_TEST

/* The success fast paths (a slot that already says "success" is not
 * written; the default mode checks it before its counter add) against a
 * model ring of the last n outcomes, after every call, in the default,
 * fast_counters and exclusive modes. */
START_TEST(test_count_window_matches_a_model_ring_after_every_call)
{
    static const uint32_t sizes[] = {7, 64, 100, 1024};
    static uint8_t ring[1024];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        gwlb_breaker_config cfg = count_cfg(100, n, n);
        cfg.slow_call_rate_percent = 100;
        cfg.slow_call_ns = 1000;
        gwlb_breaker b;
        init_in_mode(&b, &cfg, _i);
        memset(ring, 0, sizeof ring);
        uint64_t rng = 99 + k, calls = 0, fails = 0, slows = 0, mism = 0;
        for (uint32_t i = 0; i < 4 * n + 300; i++) {
            rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
            unsigned r = (unsigned)(rng >> 33) % 100;
            /* runs of successes, so that most slots are already "success" */
            int fail = r < 6, slow = r >= 96;
            call(&b, &cfg, T0, fail ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS,
                 slow ? 2000 : 10);
            uint8_t *e = &ring[i % n];
            if (*e) {
                calls--;
                fails -= (*e & 2) != 0;
                slows -= (*e & 4) != 0;
            }
            *e = (uint8_t)(1 | (fail ? 2 : 0) | (slow ? 4 : 0));
            calls++;
            fails += fail;
            slows += slow;
            gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
            mism += st.window_calls != calls || st.window_failures != fails ||
                    st.window_slow_calls != slows || st.state != GWLB_BREAKER_CLOSED;
        }
        ck_assert_uint_eq(mism, 0);
        gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
        ck_assert_uint_eq(st.window_calls, n);
        ck_assert_uint_eq(st.successes + st.failures, 4 * n + 300);
    }
}
END_TEST

START_TEST(test_time_window_with_odd_bucket_length)
{
    gwlb_breaker_config cfg = time_cfg();
    cfg.window_size = 7;
    cfg.window_bucket_ns = 333 * MS + 7;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t bucket = cfg.window_bucket_ns;
    uint64_t start = 123456789 * bucket; /* a bucket boundary */
    for (uint64_t i = 0; i < 20; i++) /* one call per bucket, 20 buckets */
        succeed_call(&b, &cfg, start + i * bucket);
    /* at the start of bucket 19 the window holds buckets 13..19 */
    ck_assert_uint_eq(stats_at(&b, &cfg, start + 19 * bucket).window_calls, 7);
    ck_assert_uint_eq(stats_at(&b, &cfg, start + 20 * bucket - 1).window_calls, 7);
    ck_assert_uint_eq(stats_at(&b, &cfg, start + 20 * bucket).window_calls, 6);
    succeed_call(&b, &cfg, start + 19 * bucket + bucket - 1); /* last ns of bucket 19 */
    ck_assert_uint_eq(stats_at(&b, &cfg, start + 19 * bucket).window_calls, 8);
}
END_TEST

START_TEST(test_window_is_cleared_when_the_breaker_closes_again)
{
    gwlb_breaker_config cfg = count_cfg(50, 100, 10);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    for (int i = 0; i < 10; i++)
        fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).window_calls, 0);
    uint64_t now = T0 + 61 * SEC;
    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0); /* the probe closes it */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    ck_assert_uint_eq(stats_at(&b, &cfg, now).window_calls, 0);
    for (int i = 0; i < 9; i++)
        fail_call(&b, &cfg, now);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
}
END_TEST

START_TEST(test_time_window_counts_the_last_n_seconds)
{
    gwlb_breaker_config cfg = time_cfg();
    gwlb_breaker b;
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
    fail_call(&b, &cfg, T0);
    fail_call(&b, &cfg, T0 + 100 * MS);
    succeed_call(&b, &cfg, T0 + 5 * SEC);
    succeed_call(&b, &cfg, T0 + 5 * SEC);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0 + 5 * SEC);
    ck_assert_uint_eq(st.window_calls, 4);
    ck_assert_uint_eq(st.window_failures, 2);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED); /* successes don't judge */
    fail_call(&b, &cfg, T0 + 9 * SEC + 999 * MS); /* bucket 9: 3 of 5 */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

START_TEST(test_time_window_buckets_roll_over)
{
    gwlb_breaker_config cfg = time_cfg();
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    fail_call(&b, &cfg, T0);
    fail_call(&b, &cfg, T0);
    succeed_call(&b, &cfg, T0 + 5 * SEC);
    succeed_call(&b, &cfg, T0 + 5 * SEC);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0 + 9 * SEC).window_calls, 4);
    /* at T0 + 10 s the bucket of T0 has left the window */
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0 + 10 * SEC);
    ck_assert_uint_eq(st.window_calls, 2);
    ck_assert_uint_eq(st.window_failures, 0);
    fail_call(&b, &cfg, T0 + 10 * SEC); /* 1 of 3: below the minimum */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    succeed_call(&b, &cfg, T0 + 10 * SEC);
    fail_call(&b, &cfg, T0 + 10 * SEC); /* 2 of 5 = 40 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    st = stats_at(&b, &cfg, T0 + 10 * SEC);
    ck_assert_uint_eq(st.window_calls, 5);
    ck_assert_uint_eq(st.window_failures, 2);
    /* T0 + 10 s reused slot 0: the old two failures are gone, not added */
    fail_call(&b, &cfg, T0 + 10 * SEC); /* 3 of 6 = 50 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

START_TEST(test_time_window_forgets_everything_after_a_long_pause)
{
    gwlb_breaker_config cfg = time_cfg();
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    for (int i = 0; i < 3; i++)
        fail_call(&b, &cfg, T0 + (uint64_t)i * SEC);
    succeed_call(&b, &cfg, T0 + 3 * SEC);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0 + 3600 * SEC).window_calls, 0);
    for (int i = 0; i < 3; i++)
        succeed_call(&b, &cfg, T0 + 3600 * SEC);
    fail_call(&b, &cfg, T0 + 3600 * SEC); /* 1 of 4 */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
}
END_TEST

START_TEST(test_slow_calls_trip_the_slow_call_rate)
{
    gwlb_breaker_config cfg = count_cfg(0, 10, 10);
    cfg.slow_call_rate_percent = 50;
    cfg.slow_call_ns = 2 * SEC;
    gwlb_breaker b;
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), 0);
    for (int i = 0; i < 5; i++)
        call(&b, &cfg, T0, GWLB_BREAKER_SUCCESS, 100 * MS);
    for (int i = 0; i < 4; i++)
        call(&b, &cfg, T0, GWLB_BREAKER_SUCCESS, 3 * SEC);
    call(&b, &cfg, T0, GWLB_BREAKER_SUCCESS, 2 * SEC); /* not slow: > is strict */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.window_calls, 10);
    ck_assert_uint_eq(st.window_slow_calls, 4);
    ck_assert_uint_eq(st.failures, 0);
    call(&b, &cfg, T0, GWLB_BREAKER_SUCCESS, 2 * SEC + 1); /* replaces a fast one: 5/10 */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
    st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.last_cause, GWLB_BREAKER_CAUSE_SLOW_CALL_RATE);
    ck_assert_uint_eq(st.slow_calls, 5);
}
END_TEST

START_TEST(test_slow_probe_reopens_when_slow_calls_trip)
{
    gwlb_breaker_config cfg = count_cfg(0, 10, 10);
    cfg.slow_call_rate_percent = 50;
    cfg.slow_call_ns = 2 * SEC;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_HALF_OPEN, T0);
    call(&b, &cfg, T0, GWLB_BREAKER_SUCCESS, 3 * SEC);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

START_TEST(test_conditions_combine_consecutive_or_rate)
{
    gwlb_breaker_config cfg = count_cfg(50, 20, 20);
    cfg.consecutive_failures = 3;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    fail_call(&b, &cfg, T0);
    fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    fail_call(&b, &cfg, T0); /* rate can't judge yet (3 < 20), consecutive can */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).last_cause,
                      GWLB_BREAKER_CAUSE_CONSECUTIVE_FAILURES);
}
END_TEST

/* resilience4j half-open: 10 permits, open at 50 % of them failing. */
START_TEST(test_resilience4j_half_open_decides_by_rate_over_permits)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init_resilience4j(&cfg);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_HALF_OPEN, T0);
    for (int i = 0; i < 4; i++)
        fail_call(&b, &cfg, T0);
    for (int i = 0; i < 5; i++)
        succeed_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_HALF_OPEN);
    succeed_call(&b, &cfg, T0); /* 4 of 10 failed: 40 % < 50 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);

    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_HALF_OPEN, T0);
    for (int i = 0; i < 5; i++)
        succeed_call(&b, &cfg, T0);
    for (int i = 0; i < 4; i++)
        fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_HALF_OPEN);
    fail_call(&b, &cfg, T0); /* 5 of 10: 50 % */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_OPEN);
}
END_TEST

/* ---- special states ----------------------------------------------------- */

START_TEST(test_forced_open_rejects_until_the_host_releases_it)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    event_log log = {0};
    cfg.on_transition = log_event;
    cfg.user_data = &log;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t inflight;
    gwlb_breaker_allow(&b, &cfg, T0, &inflight);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_FORCED_OPEN, T0), 0);
    ck_assert_int_eq(succeed_call(&b, &cfg, T0), GWLB_BREAKER_REJECT_FORCED_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, T0 + 3600 * SEC), GWLB_BREAKER_FORCED_OPEN);
    ck_assert_int_eq(succeed_call(&b, &cfg, T0 + 3600 * SEC), GWLB_BREAKER_REJECT_FORCED_OPEN);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, inflight, GWLB_BREAKER_FAILURE, 0, T0),
                     GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_CLOSED, T0 + 3600 * SEC), 0);
    ck_assert_int_eq(succeed_call(&b, &cfg, T0 + 3600 * SEC), 0);
    ck_assert_int_eq(log.n, 2);
    ck_assert_uint_eq(log.ev[0].to, GWLB_BREAKER_FORCED_OPEN);
    ck_assert_uint_eq(log.ev[0].cause, GWLB_BREAKER_CAUSE_ADMIN);
    ck_assert_uint_eq(log.ev[1].from, GWLB_BREAKER_FORCED_OPEN);
    ck_assert_uint_eq(log.ev[1].to, GWLB_BREAKER_CLOSED);
    ck_assert_uint_eq(stats_at(&b, &cfg, T0).rejected, 2);
}
END_TEST

START_TEST(test_disabled_admits_everything_and_never_trips)
{
    gwlb_breaker_config cfg = count_cfg(50, 10, 10);
    cfg.consecutive_failures = 6;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_DISABLED, T0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(fail_call(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, T0), GWLB_BREAKER_DISABLED);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.failures, 100);
    ck_assert_uint_eq(st.window_calls, 0); /* no metrics in DISABLED */
}
END_TEST

START_TEST(test_metrics_only_records_but_never_trips)
{
    gwlb_breaker_config cfg = count_cfg(50, 10, 10);
    cfg.consecutive_failures = 6;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_METRICS_ONLY, T0);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(fail_call(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_METRICS_ONLY);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.window_calls, 10);
    ck_assert_uint_eq(st.window_failures, 10);
    ASSERT_COUNTS(&b, 20, 0, 20, 0, 20);
}
END_TEST

/* metrics-only successes take record()'s general path: same bookkeeping as
 * closed-state successes (window entry, consecutive counts) */
START_TEST(test_metrics_only_successes_overwrite_failed_window_slots)
{
    gwlb_breaker_config cfg = count_cfg(50, 4, 4);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_METRICS_ONLY, T0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fail_call(&b, &cfg, T0), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(call(&b, &cfg, T0, GWLB_BREAKER_SUCCESS, 0), 0);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.window_calls, 4);
    ck_assert_uint_eq(st.window_failures, 1);
    ASSERT_COUNTS(&b, 7, 3, 4, 3, 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_METRICS_ONLY);
}
END_TEST

START_TEST(test_ignored_outcome_counts_nowhere)
{
    gwlb_breaker_config cfg = count_cfg(50, 10, 2);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(call(&b, &cfg, T0, GWLB_BREAKER_IGNORED, 0), 0);
    ASSERT_COUNTS(&b, 10, 0, 0, 0, 0);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0);
    ck_assert_uint_eq(st.window_calls, 0);
    ck_assert_uint_eq(st.ignored, 10);
    fail_call(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED); /* 1 call < 2 */
}
END_TEST

START_TEST(test_ignored_probe_returns_its_permit)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_HALF_OPEN, T0);
    uint64_t t, t2;
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, &t), 0);
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, &t2), GWLB_BREAKER_REJECT_HALF_OPEN_FULL);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, t, GWLB_BREAKER_IGNORED, 0, T0), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_HALF_OPEN);
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, T0, &t2), 0);
}
END_TEST

/* ---- waits -------------------------------------------------------------- */

START_TEST(test_half_open_is_not_stuck_after_its_maximum_wait)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_max_wait_ns = 5 * SEC;
    cfg.open_wait_ns = 10 * SEC;
    event_log log = {0};
    cfg.on_transition = log_event;
    cfg.user_data = &log;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0);
    uint64_t now = T0 + 10 * SEC + 1;
    uint64_t lost, t;
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, now, &lost), 0); /* never answers */
    ck_assert_int_eq(gwlb_breaker_allow(&b, &cfg, now + 5 * SEC, &t),
                     GWLB_BREAKER_REJECT_HALF_OPEN_FULL);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + 5 * SEC), GWLB_BREAKER_HALF_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + 5 * SEC + 1), GWLB_BREAKER_OPEN);
    ck_assert_uint_eq(log.ev[log.n - 1].cause, GWLB_BREAKER_CAUSE_HALF_OPEN_TIMEOUT);
    ck_assert_int_eq(gwlb_breaker_record(&b, &cfg, lost, GWLB_BREAKER_SUCCESS, 0, now),
                     GWLB_EUNKNOWN);
    /* and it probes again after the next wait */
    now += 5 * SEC + 1;
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + 10 * SEC), GWLB_BREAKER_OPEN);
    ck_assert_int_eq(succeed_call(&b, &cfg, now + 10 * SEC + 1), 0);
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
}
END_TEST

START_TEST(test_open_wait_grows_exponentially_and_is_capped)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_ns = 1 * SEC;
    cfg.open_wait_multiplier_percent = 200;
    cfg.open_wait_max_ns = 5 * SEC;
    event_log log = {0};
    cfg.on_transition = log_event;
    cfg.user_data = &log;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    uint64_t now = T0;
    for (int i = 0; i < 6; i++)
        fail_call(&b, &cfg, now);
    static const uint64_t waits[] = {1 * SEC, 2 * SEC, 4 * SEC, 5 * SEC, 5 * SEC};
    for (int k = 0; k < 5; k++) {
        gwlb_breaker_event *ev = &log.ev[log.n - 1];
        ck_assert_uint_eq(ev->to, GWLB_BREAKER_OPEN);
        ck_assert_uint_eq(ev->wait_ns, waits[k]);
        ck_assert_uint_eq(ev->trips, (uint32_t)(k + 1));
        ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, now + waits[k]), GWLB_BREAKER_OPEN);
        now += waits[k] + 1;
        if (k < 4)
            ck_assert_int_eq(fail_call(&b, &cfg, now), 0); /* probe fails: trip again */
    }
    ck_assert_int_eq(succeed_call(&b, &cfg, now), 0); /* closes: backoff resets */
    ck_assert_int_eq(gwlb_breaker_state(&b), GWLB_BREAKER_CLOSED);
    for (int i = 0; i < 6; i++)
        fail_call(&b, &cfg, now);
    ck_assert_uint_eq(log.ev[log.n - 1].wait_ns, 1 * SEC);
    ck_assert_uint_eq(log.ev[log.n - 1].trips, 1);
}
END_TEST

static uint64_t jittered_wait(uint64_t seed, int trip)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_ns = 10 * SEC;
    cfg.open_wait_jitter_percent = 10;
    event_log log = {0};
    cfg.on_transition = log_event;
    cfg.user_data = &log;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, seed, NULL);
    for (int i = 0; i <= trip; i++)
        gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0);
    return log.ev[log.n - 1].wait_ns;
}

START_TEST(test_open_wait_jitter_is_seeded_and_bounded)
{
    int differ = 0;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        uint64_t w = jittered_wait(seed, 0);
        ck_assert_uint_ge(w, 9 * SEC);
        ck_assert_uint_le(w, 11 * SEC);
        ck_assert_uint_eq(w, jittered_wait(seed, 0)); /* reproducible */
        differ += w != jittered_wait(seed + 1000, 0);
    }
    ck_assert_int_ge(differ, 49);
    /* the deadline honours the drawn wait exactly */
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_ns = 10 * SEC;
    cfg.open_wait_jitter_percent = 10;
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 7, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0);
    uint64_t w = jittered_wait(7, 0);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, T0 + w), GWLB_BREAKER_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, T0 + w + 1), GWLB_BREAKER_HALF_OPEN);
}
END_TEST

/* Documented clamp: an earlier `now` never underflows; it just waits longer. */
START_TEST(test_time_going_backwards_keeps_the_breaker_open)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    gwlb_breaker_transition(&b, &cfg, GWLB_BREAKER_OPEN, T0);
    gwlb_breaker before = b;
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, T0 - 30 * SEC), GWLB_BREAKER_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, 0), GWLB_BREAKER_OPEN);
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
    ck_assert_int_eq(succeed_call(&b, &cfg, 0), GWLB_BREAKER_REJECT_OPEN);
    ck_assert_int_eq(gwlb_breaker_poll(&b, &cfg, T0 + 60 * SEC + 1), GWLB_BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_time_going_backwards_lands_in_the_newest_bucket)
{
    gwlb_breaker_config cfg = time_cfg();
    gwlb_breaker b;
    gwlb_breaker_init(&b, &cfg, 1, NULL);
    succeed_call(&b, &cfg, T0 + 20 * SEC);
    /* 10 s earlier maps to the same slot, which already holds a newer bucket */
    fail_call(&b, &cfg, T0 + 10 * SEC);
    gwlb_breaker_stats st = stats_at(&b, &cfg, T0 + 20 * SEC);
    ck_assert_uint_eq(st.window_calls, 2);
    ck_assert_uint_eq(st.window_failures, 1);
    /* and a window read with an older clock still sees the newer bucket */
    ck_assert_uint_eq(stats_at(&b, &cfg, T0 + 15 * SEC).window_calls, 2);
}
END_TEST

/* ---- configuration errors ---------------------------------------------- */

static void expect_bad(gwlb_breaker_config cfg, int code, const char *field)
{
    gwlb_error_detail d;
    gwlb_error_detail_init(&d);
    ck_assert_int_eq(gwlb_breaker_config_validate(&cfg, &d), code);
    ck_assert_int_eq(d.code, code);
    ck_assert_ptr_nonnull(d.field);
    ck_assert_str_eq(d.field, field);
    /* init refuses the same config and leaves the breaker untouched */
    gwlb_breaker b, before;
    memset(&b, 0xa5, sizeof b);
    before = b;
    ck_assert_int_eq(gwlb_breaker_init(&b, &cfg, 1, NULL), code);
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
}

START_TEST(test_threshold_above_100_is_out_of_range)
{
    gwlb_breaker_config cfg = count_cfg(101, 10, 10);
    expect_bad(cfg, GWLB_ERANGE, "failure_rate_percent");
    cfg = count_cfg(50, 10, 10);
    cfg.slow_call_rate_percent = 101;
    expect_bad(cfg, GWLB_ERANGE, "slow_call_rate_percent");
    cfg = count_cfg(100, 10, 10); /* 100 itself is fine */
    ck_assert_int_eq(gwlb_breaker_config_validate(&cfg, NULL), 0);
}
END_TEST

START_TEST(test_window_of_zero_is_out_of_range)
{
    gwlb_breaker_config cfg = count_cfg(50, 0, 0);
    expect_bad(cfg, GWLB_ERANGE, "window_size");
    cfg = count_cfg(50, GWLB_BREAKER_MAX_WINDOW_CALLS + 1, 1);
    expect_bad(cfg, GWLB_ERANGE, "window_size");
    cfg = time_cfg();
    cfg.window_size = 0;
    expect_bad(cfg, GWLB_ERANGE, "window_size");
    cfg = time_cfg();
    cfg.window_size = GWLB_BREAKER_MAX_WINDOW_BUCKETS + 1;
    expect_bad(cfg, GWLB_ERANGE, "window_size");
    cfg = time_cfg();
    cfg.window_bucket_ns = 0;
    expect_bad(cfg, GWLB_ERANGE, "window_bucket_ns");
    cfg = count_cfg(50, 10, 10);
    cfg.window_kind = 3;
    expect_bad(cfg, GWLB_EINVAL, "window_kind");
}
END_TEST

START_TEST(test_minimum_calls_larger_than_the_window_conflicts)
{
    gwlb_breaker_config cfg = count_cfg(50, 100, 101);
    expect_bad(cfg, GWLB_ECONFLICT, "minimum_calls");
    cfg = count_cfg(50, 100, 100);
    ck_assert_int_eq(gwlb_breaker_config_validate(&cfg, NULL), 0);
}
END_TEST

START_TEST(test_rate_without_window_conflicts)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.failure_rate_percent = 50;
    expect_bad(cfg, GWLB_ECONFLICT, "failure_rate_percent");
}
END_TEST

START_TEST(test_half_open_and_wait_settings_are_checked)
{
    gwlb_breaker_config cfg;
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_permits = 0;
    expect_bad(cfg, GWLB_ERANGE, "half_open_permits");
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_permits = GWLB_BREAKER_MAX_PERMITS + 1;
    expect_bad(cfg, GWLB_ERANGE, "half_open_permits");
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_successes = 2;
    expect_bad(cfg, GWLB_ERANGE, "half_open_successes");
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_failures = 0;
    expect_bad(cfg, GWLB_ERANGE, "half_open_failures");
    gwlb_breaker_config_init(&cfg);
    cfg.half_open_permits = 10;
    cfg.half_open_successes = 6;
    cfg.half_open_failures = 6;
    expect_bad(cfg, GWLB_ECONFLICT, "half_open_successes");
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_multiplier_percent = 99;
    expect_bad(cfg, GWLB_ERANGE, "open_wait_multiplier_percent");
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_jitter_percent = 101;
    expect_bad(cfg, GWLB_ERANGE, "open_wait_jitter_percent");
    gwlb_breaker_config_init(&cfg);
    cfg.open_wait_max_ns = cfg.open_wait_ns - 1;
    expect_bad(cfg, GWLB_ECONFLICT, "open_wait_max_ns");
    gwlb_breaker_config_init(&cfg);
    cfg.fast_counters = 2;
    expect_bad(cfg, GWLB_EINVAL, "fast_counters");
    ck_assert_int_eq(gwlb_breaker_config_validate(NULL, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_breaker_init(NULL, &cfg, 1, NULL), GWLB_EINVAL);
}
END_TEST

START_TEST(test_state_and_cause_names)
{
    ck_assert_str_eq(gwlb_breaker_state_name(GWLB_BREAKER_CLOSED), "closed");
    ck_assert_str_eq(gwlb_breaker_state_name(GWLB_BREAKER_HALF_OPEN), "half-open");
    ck_assert_str_eq(gwlb_breaker_state_name(GWLB_BREAKER_FORCED_OPEN), "forced-open");
    ck_assert_str_eq(gwlb_breaker_state_name(GWLB_BREAKER_METRICS_ONLY), "metrics-only");
    ck_assert_str_eq(gwlb_breaker_state_name(9), "unknown");
    ck_assert_str_eq(gwlb_breaker_cause_name(GWLB_BREAKER_CAUSE_FAILURE_RATE), "failure-rate");
    ck_assert_str_eq(gwlb_breaker_cause_name(99), "unknown");
}
END_TEST

static Suite *breaker_suite(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("gobreaker");
    tcase_add_test(tc, test_default_config_is_gobreakers);
    tcase_add_loop_test(tc, test_gobreaker_default_breaker_sequence, 0, 2);
    tcase_add_test(tc, test_fast_counters_count_calls_when_they_end);
    tcase_add_test(tc, test_half_open_admits_exactly_its_permits);
    tcase_add_test(tc, test_open_to_half_open_admits_the_calling_request_as_first_probe);
    tcase_add_test(tc, test_result_from_an_older_generation_is_ignored);
    tcase_add_test(tc, test_result_for_an_unknown_generation_is_refused);
    tcase_add_test(tc, test_malformed_ticket_and_outcome_are_invalid_and_change_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("resilience4j");
    tcase_add_test(tc, test_resilience4j_defaults);
    tcase_add_test(tc, test_count_window_nothing_trips_below_minimum_calls);
    tcase_add_test(tc, test_count_window_trips_at_exactly_fifty_percent);
    tcase_add_test(tc, test_count_window_stays_closed_below_the_rate);
    tcase_add_test(tc, test_count_window_of_100_keeps_only_the_last_100_calls);
    tcase_add_test(tc, test_count_window_of_any_size_holds_exactly_the_last_n_calls);
    tcase_add_loop_test(tc, test_count_window_matches_a_model_ring_after_every_call, 0, 4);
    tcase_add_test(tc, test_time_window_with_odd_bucket_length);
    tcase_add_test(tc, test_window_is_cleared_when_the_breaker_closes_again);
    tcase_add_test(tc, test_time_window_counts_the_last_n_seconds);
    tcase_add_test(tc, test_time_window_buckets_roll_over);
    tcase_add_test(tc, test_time_window_forgets_everything_after_a_long_pause);
    tcase_add_test(tc, test_slow_calls_trip_the_slow_call_rate);
    tcase_add_test(tc, test_slow_probe_reopens_when_slow_calls_trip);
    tcase_add_test(tc, test_conditions_combine_consecutive_or_rate);
    tcase_add_loop_test(tc, test_counts_match_a_model_after_every_call, 0, 4);
    tcase_add_test(tc, test_resilience4j_half_open_decides_by_rate_over_permits);
    suite_add_tcase(s, tc);

    tc = tcase_create("states");
    tcase_add_test(tc, test_forced_open_rejects_until_the_host_releases_it);
    tcase_add_test(tc, test_disabled_admits_everything_and_never_trips);
    tcase_add_test(tc, test_metrics_only_records_but_never_trips);
    tcase_add_test(tc, test_metrics_only_successes_overwrite_failed_window_slots);
    tcase_add_test(tc, test_ignored_outcome_counts_nowhere);
    tcase_add_test(tc, test_ignored_probe_returns_its_permit);
    tcase_add_test(tc, test_half_open_is_not_stuck_after_its_maximum_wait);
    tcase_add_test(tc, test_open_wait_grows_exponentially_and_is_capped);
    tcase_add_test(tc, test_open_wait_jitter_is_seeded_and_bounded);
    tcase_add_test(tc, test_time_going_backwards_keeps_the_breaker_open);
    tcase_add_test(tc, test_time_going_backwards_lands_in_the_newest_bucket);
    tcase_add_test(tc, test_state_and_cause_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_test(tc, test_threshold_above_100_is_out_of_range);
    tcase_add_test(tc, test_window_of_zero_is_out_of_range);
    tcase_add_test(tc, test_minimum_calls_larger_than_the_window_conflicts);
    tcase_add_test(tc, test_rate_without_window_conflicts);
    tcase_add_test(tc, test_half_open_and_wait_settings_are_checked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(breaker_suite());
}

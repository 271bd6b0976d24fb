/*
 * Specification of the GCRA bucket: redis-cell's CL.THROTTLE semantics,
 * its published test sequence, peeking, time going backwards, merging a
 * remote TAT, and bad configuration.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/limiter.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define MS GWLB_NS_PER_MS

/* An arbitrary non-zero start, as redis-cell's `start = now_utc()`. */
#define START (UINT64_C(1700000000) * SEC)

typedef struct cell_case {
    uint64_t at_ms; /* offset from START */
    uint64_t quantity;
    uint64_t remaining;
    int64_t reset_after_ms;
    int64_t retry_after_ms; /* -1 s in redis-cell = none */
    int limited;
} cell_case;

/* brandur/redis-cell src/cell/mod.rs, test it_rate_limits: limit 5
 * (max_burst 4), 1 per second. */
static const cell_case redis_cell_cases[] = {
    {0, 6, 5, 0, -1, 1},       /* never larger than the maximum */
    {0, 1, 4, 1000, -1, 0},    {0, 1, 3, 2000, -1, 0},    {0, 1, 2, 3000, -1, 0},
    {0, 1, 1, 4000, -1, 0},    {0, 1, 0, 5000, -1, 0},    {0, 1, 0, 5000, 1000, 1},
    {3000, 1, 2, 3000, -1, 0}, {3100, 1, 1, 3900, -1, 0}, {4000, 1, 1, 4000, -1, 0},
    {8000, 1, 4, 1000, -1, 0}, {9500, 1, 4, 1000, -1, 0},
    {9500, 0, 4, 1000, -1, 0}, /* zero quantity peeks */
    {9500, 2, 2, 3000, -1, 0}, /* high volume uses more */
    {9500, 5, 2, 3000, 3000, 1}, /* cannot exceed the limit */
};

START_TEST(test_gcra_reproduces_redis_cell_it_rate_limits_sequence)
{
    gwlb_gcra b;
    ck_assert_int_eq(gwlb_gcra_init(&b, 1, SEC, 4), GWLB_OK);
    for (size_t i = 0; i < sizeof redis_cell_cases / sizeof redis_cell_cases[0]; i++) {
        const cell_case *c = &redis_cell_cases[i];
        gwlb_limit_result r;
        ck_assert_int_eq(gwlb_gcra_allow(&b, START + c->at_ms * MS, c->quantity, &r), GWLB_OK);
        ck_assert_msg(r.allowed == !c->limited, "case %zu limited", i);
        ck_assert_uint_eq(r.limit, 5);
        ck_assert_msg(r.remaining == c->remaining, "case %zu remaining %llu", i,
                      (unsigned long long)r.remaining);
        ck_assert_msg(r.reset_after_ns == (uint64_t)c->reset_after_ms * MS, "case %zu reset", i);
        int64_t want_retry = c->retry_after_ms < 0 ? -1 : c->retry_after_ms * (int64_t)MS;
        ck_assert_msg(r.retry_after_ns == want_retry, "case %zu retry %lld", i,
                      (long long)r.retry_after_ns);
        ck_assert_uint_eq(r.delay_ns, 0);
    }
}
END_TEST

START_TEST(test_gcra_throttle_reply_matches_cl_throttle_readme_example)
{
    /* README: CL.THROTTLE user123 15 30 60 -> 0 16 15 -1 2 */
    gwlb_gcra b;
    ck_assert_int_eq(gwlb_gcra_init(&b, 30, 60 * SEC, 15), GWLB_OK);
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_gcra_allow(&b, START, 1, &r), GWLB_OK);
    int64_t reply[5];
    ck_assert_int_eq(gwlb_gcra_throttle_reply(&r, reply), GWLB_OK);
    ck_assert_int_eq(reply[0], 0);
    ck_assert_int_eq(reply[1], 16);
    ck_assert_int_eq(reply[2], 15);
    ck_assert_int_eq(reply[3], -1);
    ck_assert_int_eq(reply[4], 2);
}
END_TEST

START_TEST(test_gcra_throttle_reply_rounds_up_only_whole_milliseconds)
{
    gwlb_limit_result r = {0};
    r.allowed = 0;
    r.limit = 5;
    r.remaining = 0;
    r.retry_after_ns = (int64_t)(SEC + 999999); /* 1.000999 s: no whole ms */
    r.reset_after_ns = 2 * SEC + MS;             /* 2.001 s */
    int64_t reply[5];
    ck_assert_int_eq(gwlb_gcra_throttle_reply(&r, reply), GWLB_OK);
    ck_assert_int_eq(reply[0], 1);
    ck_assert_int_eq(reply[3], 1);
    ck_assert_int_eq(reply[4], 3);
    ck_assert_int_eq(gwlb_gcra_throttle_reply(NULL, reply), GWLB_EINVAL);
}
END_TEST

START_TEST(test_gcra_fresh_bucket_admits_exactly_limit_then_one_per_interval)
{
    gwlb_gcra b;
    ck_assert_int_eq(gwlb_gcra_init(&b, 10, SEC, 2), GWLB_OK); /* T = 100 ms, limit 3 */
    gwlb_limit_result r;
    for (int i = 0; i < 3; i++) {
        gwlb_gcra_allow(&b, START, 1, &r);
        ck_assert_int_eq(r.allowed, 1);
        ck_assert_uint_eq(r.remaining, (uint64_t)(2 - i));
    }
    gwlb_gcra_allow(&b, START, 1, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(100 * MS));
    gwlb_gcra_allow(&b, START + 100 * MS - 1, 1, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(r.retry_after_ns, 1);
    gwlb_gcra_allow(&b, START + 100 * MS, 1, &r);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.reset_after_ns, 300 * MS);
}
END_TEST

START_TEST(test_gcra_limited_request_leaves_state_unchanged)
{
    gwlb_gcra b;
    gwlb_gcra_init(&b, 1, SEC, 0);
    gwlb_limit_result r;
    gwlb_gcra_allow(&b, START, 1, &r);
    uint64_t tat = gwlb_gcra_tat(&b);
    ck_assert_uint_eq(tat, START + SEC);
    gwlb_gcra_allow(&b, START + 10, 1, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), tat);
}
END_TEST

START_TEST(test_gcra_cost_zero_peeks_without_consuming)
{
    gwlb_gcra b;
    gwlb_gcra_init(&b, 1, SEC, 4);
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_gcra_peek(&b, START, &r), GWLB_OK);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.remaining, 5);
    ck_assert_uint_eq(r.reset_after_ns, 0);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), 0);
}
END_TEST

START_TEST(test_gcra_cost_above_limit_is_never_admitted_and_has_no_retry)
{
    gwlb_gcra b;
    gwlb_gcra_init(&b, 1, SEC, 4);
    gwlb_limit_result r;
    gwlb_gcra_allow(&b, START, UINT64_MAX, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(r.retry_after_ns, -1);
    ck_assert_uint_eq(r.remaining, 5);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), 0);
    gwlb_gcra_allow(&b, START, 5, &r); /* exactly the limit fits */
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.remaining, 0);
}
END_TEST

START_TEST(test_gcra_time_going_backwards_never_admits_more)
{
    gwlb_gcra b;
    gwlb_gcra_init(&b, 1, SEC, 1); /* limit 2 */
    gwlb_limit_result r;
    gwlb_gcra_allow(&b, START, 1, &r);
    gwlb_gcra_allow(&b, START, 1, &r);
    ck_assert_int_eq(r.allowed, 1);
    /* Clock jumps back an hour: the bucket looks fuller, not emptier. */
    gwlb_gcra_allow(&b, START - 3600 * SEC, 1, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(r.reset_after_ns, 3600 * SEC + 2 * SEC);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), START + 2 * SEC);
    /* Time 0 after a real TAT: no underflow. */
    gwlb_gcra_allow(&b, 0, 1, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(r.reset_after_ns, START + 2 * SEC);
}
END_TEST

START_TEST(test_gcra_merge_only_raises_the_tat)
{
    gwlb_gcra b;
    gwlb_gcra_init(&b, 1, SEC, 4);
    ck_assert_int_eq(gwlb_gcra_merge(&b, START + 3 * SEC), GWLB_OK);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), START + 3 * SEC);
    ck_assert_int_eq(gwlb_gcra_merge(&b, START), GWLB_OK);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), START + 3 * SEC);
    gwlb_limit_result r;
    gwlb_gcra_peek(&b, START, &r);
    ck_assert_uint_eq(r.remaining, 2);
    ck_assert_int_eq(gwlb_gcra_reset(&b), GWLB_OK);
    ck_assert_uint_eq(gwlb_gcra_tat(&b), 0);
    ck_assert_int_eq(gwlb_gcra_merge(NULL, 1), GWLB_EINVAL);
}
END_TEST

START_TEST(test_gcra_decide_is_pure_and_matches_allow)
{
    gwlb_gcra_config cfg;
    ck_assert_int_eq(gwlb_gcra_config_init(&cfg, 5, SEC, 4), GWLB_OK);
    ck_assert_uint_eq(cfg.emission_ns, 200 * MS);
    ck_assert_uint_eq(cfg.tolerance_ns, SEC);
    ck_assert_uint_eq(cfg.limit, 5);
    gwlb_limit_result r;
    uint64_t next = 12345;
    ck_assert_int_eq(gwlb_gcra_decide(&cfg, 0, START, 2, &r, &next), GWLB_OK);
    ck_assert_uint_eq(next, START + 400 * MS);
    ck_assert_uint_eq(r.remaining, 3);
    ck_assert_int_eq(gwlb_gcra_decide(&cfg, next, START, 4, &r, &next), GWLB_OK);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(next, START + 400 * MS);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(200 * MS));
    uint64_t word = 0;
    ck_assert_int_eq(gwlb_gcra_state_allow(&cfg, &word, START, 2, NULL), GWLB_OK);
    ck_assert_uint_eq(word, START + 400 * MS);
}
END_TEST

START_TEST(test_gcra_remaining_uses_redis_cell_microsecond_division)
{
    /* 3 per second: T = 333333333 ns. After 1 request, DVT - reset is
     * 666666666 ns = 666666 us; 666666 / 333333 = 2 (ns division gives 1.99). */
    gwlb_gcra_config cfg;
    gwlb_gcra_config_init(&cfg, 3, SEC, 2);
    ck_assert_uint_eq(cfg.emission_ns, 333333333);
    gwlb_limit_result r;
    uint64_t next;
    gwlb_gcra_decide(&cfg, 0, START, 1, &r, &next);
    ck_assert_uint_eq(r.remaining, 2);
}
END_TEST

START_TEST(test_gcra_remaining_is_capped_at_limit_when_interval_is_not_whole_microseconds)
{
    /* T = 1999 ns truncates to 1 us: redis-cell's formula would say 19 of 10. */
    gwlb_gcra b;
    ck_assert_int_eq(gwlb_gcra_init(&b, 1, 1999, 9), GWLB_OK);
    gwlb_limit_result r;
    gwlb_gcra_peek(&b, START, &r);
    ck_assert_uint_eq(r.limit, 10);
    ck_assert_uint_eq(r.remaining, 10);
}
END_TEST

START_TEST(test_gcra_admit_gives_the_same_decisions_as_allow)
{
    gwlb_gcra a, b;
    gwlb_gcra_init(&a, 1, SEC, 4);
    gwlb_gcra_init(&b, 1, SEC, 4);
    for (size_t i = 0; i < sizeof redis_cell_cases / sizeof redis_cell_cases[0]; i++) {
        const cell_case *c = &redis_cell_cases[i];
        gwlb_limit_result r;
        gwlb_gcra_allow(&a, START + c->at_ms * MS, c->quantity, &r);
        ck_assert_int_eq(gwlb_gcra_admit(&b, START + c->at_ms * MS, c->quantity), r.allowed);
        ck_assert_uint_eq(gwlb_gcra_tat(&a), gwlb_gcra_tat(&b));
    }
    ck_assert_int_eq(gwlb_gcra_admit(NULL, 0, 1), GWLB_EINVAL);
}
END_TEST

START_TEST(test_gcra_rejects_zero_rate)
{
    gwlb_gcra b;
    memset(&b, 0xAB, sizeof b);
    gwlb_gcra copy = b;
    ck_assert_int_eq(gwlb_gcra_init(&b, 0, SEC, 1), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_gcra_init(&b, 1, 0, 1), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_gcra_init(&b, 10, 9, 1), GWLB_ERANGE); /* T < 1 ns */
    ck_assert_mem_eq(&b, &copy, sizeof b);
}
END_TEST

START_TEST(test_gcra_rejects_negative_nan_and_infinite_rates)
{
    gwlb_gcra_config cfg = {7, 8, 9};
    ck_assert_int_eq(gwlb_gcra_config_init_rate(&cfg, -1.0, 1), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_gcra_config_init_rate(&cfg, 0.0, 1), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_gcra_config_init_rate(&cfg, NAN, 1), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_gcra_config_init_rate(&cfg, INFINITY, 1), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_gcra_config_init_rate(&cfg, 2e9, 1), GWLB_ERANGE);
    ck_assert_uint_eq(cfg.emission_ns, 7);
    ck_assert_uint_eq(cfg.tolerance_ns, 8);
    ck_assert_uint_eq(cfg.limit, 9);
    ck_assert_int_eq(gwlb_gcra_config_init_rate(&cfg, 3.0, 1), GWLB_OK);
    ck_assert_uint_eq(cfg.emission_ns, 333333333);
}
END_TEST

START_TEST(test_gcra_rejects_burst_overflow)
{
    gwlb_gcra_config cfg = {7, 8, 9};
    ck_assert_int_eq(gwlb_gcra_config_init(&cfg, 1, SEC, UINT64_MAX), GWLB_EOVERFLOW);
    ck_assert_int_eq(gwlb_gcra_config_init(&cfg, 1, SEC, UINT64_C(1) << 62), GWLB_EOVERFLOW);
    ck_assert_int_eq(gwlb_gcra_config_init(&cfg, 1, SEC, (UINT64_C(1) << 62) / SEC), GWLB_EOVERFLOW);
    ck_assert_uint_eq(cfg.emission_ns, 7);
    ck_assert_int_eq(gwlb_gcra_config_init(&cfg, 1, SEC, (UINT64_C(1) << 62) / SEC - 1), GWLB_OK);
}
END_TEST

START_TEST(test_gcra_null_and_uninitialised_arguments_are_einval)
{
    gwlb_limit_result r;
    uint64_t next;
    gwlb_gcra zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_int_eq(gwlb_gcra_allow(NULL, 1, 1, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_allow(&zero, 1, 1, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_init(NULL, 1, 1, 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_config_init(NULL, 1, 1, 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_decide(NULL, 0, 0, 1, &r, &next), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_decide(&zero.config, 0, 0, 1, &r, &next), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_state_allow(&zero.config, &next, 0, 1, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_reset(NULL), GWLB_EINVAL);
    ck_assert_uint_eq(gwlb_gcra_tat(NULL), 0);
    ck_assert_uint_eq(zero.tat, 0);
}
END_TEST

/* A fixed pseudo-random request sequence (SplitMix64 from seed 1). */
static uint64_t seq_next(uint64_t *s)
{
    *s += UINT64_C(0x9e3779b97f4a7c15);
    return gwlb_mix64(*s);
}

START_TEST(test_gcra_exclusive_mode_makes_the_same_decisions_and_numbers)
{
    gwlb_gcra shared, excl, lean;
    ck_assert_int_eq(gwlb_gcra_init(&shared, 7, SEC, 3), GWLB_OK);
    excl = shared;
    lean = shared;
    uint64_t s = 1, now = START, admitted = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t x = seq_next(&s);
        now += x % (300 * MS);
        uint64_t cost = (x >> 32) % 6; /* 0 peeks, 5 never fits (limit 4) */
        gwlb_limit_result a, b;
        memset(&a, 0x5a, sizeof a);
        memset(&b, 0xa5, sizeof b);
        ck_assert_int_eq(gwlb_gcra_allow(&shared, now, cost, &a), GWLB_OK);
        ck_assert_int_eq(gwlb_gcra_allow_exclusive(&excl, now, cost, &b), GWLB_OK);
        ck_assert_mem_eq(&a, &b, sizeof a);
        ck_assert_int_eq(gwlb_gcra_admit_exclusive(&lean, now, cost), a.allowed);
        ck_assert_uint_eq(gwlb_gcra_tat(&shared), gwlb_gcra_tat(&excl));
        ck_assert_uint_eq(gwlb_gcra_tat(&shared), gwlb_gcra_tat(&lean));
        admitted += (uint64_t)(a.allowed && cost != 0);
    }
    ck_assert_uint_gt(admitted, 1000); /* the sequence exercises both outcomes */
    ck_assert_uint_lt(admitted, 19000);
    ck_assert_int_eq(gwlb_gcra_allow_exclusive(NULL, 0, 1, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_admit_exclusive(NULL, 0, 1), GWLB_EINVAL);
    gwlb_gcra zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_int_eq(gwlb_gcra_allow_exclusive(&zero, 0, 1, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_gcra_admit_exclusive(&zero, 0, 1), GWLB_EINVAL);
}
END_TEST

/* The header's formula with plain integer division, as the oracle for the
 * division-free arithmetic of the library. */
static uint64_t reference_remaining(const gwlb_gcra_config *c, uint64_t reset)
{
    if (reset >= c->tolerance_ns)
        return 0;
    uint64_t next = c->tolerance_ns - reset;
    uint64_t q = c->emission_ns < 1000 ? next / c->emission_ns
                                       : (next / 1000) / (c->emission_ns / 1000);
    return q < c->limit ? q : c->limit;
}

START_TEST(test_gcra_remaining_equals_integer_division_on_many_configs)
{
    uint64_t s = 2;
    for (int i = 0; i < 50000; i++) {
        uint64_t x = seq_next(&s), y = seq_next(&s);
        gwlb_gcra_config c;
        uint64_t period = 1 + (x % 4 == 0 ? y % 1000000 : y % (UINT64_C(1) << (x % 50)));
        uint64_t count = 1 + (x >> 8) % 1000;
        uint64_t burst = (x >> 20) % 4 == 0 ? (y >> 7) % 1000000000 : (y >> 7) % 64;
        if (gwlb_gcra_config_init(&c, count, period, burst) != GWLB_OK)
            continue;
        uint64_t now = START, tat = now + seq_next(&s) % (c.tolerance_ns + c.emission_ns);
        gwlb_limit_result r;
        uint64_t next;
        ck_assert_int_eq(gwlb_gcra_decide(&c, tat, now, 1, &r, &next), GWLB_OK);
        ck_assert_uint_eq(r.remaining, reference_remaining(&c, r.reset_after_ns));
    }
}
END_TEST

/* A fresh (or long idle) bucket answers remaining without a divide
 * (limit - cost, or the cap); the oracle must agree for every cost. */
START_TEST(test_gcra_remaining_of_a_full_bucket_equals_integer_division)
{
    uint64_t s = 5;
    for (int i = 0; i < 2000; i++) {
        uint64_t x = seq_next(&s), y = seq_next(&s);
        gwlb_gcra_config c;
        uint64_t period = 1 + (x % 3 == 0 ? y % 1000000 : y % (UINT64_C(1) << (x % 45)));
        uint64_t count = 1 + (x >> 8) % 1000;
        uint64_t burst = (x >> 20) % 40;
        if (gwlb_gcra_config_init(&c, count, period, burst) != GWLB_OK)
            continue;
        for (uint64_t cost = 0; cost <= c.limit; cost++) {
            gwlb_limit_result r;
            uint64_t next;
            uint64_t tat = (y >> 40) % 2 ? 0 : START - 1; /* fresh, or idle */
            ck_assert_int_eq(gwlb_gcra_decide(&c, tat, START, cost, &r, &next), GWLB_OK);
            ck_assert_uint_eq(r.remaining, reference_remaining(&c, r.reset_after_ns));
        }
    }
}
END_TEST

static Suite *gcra_suite(void)
{
    Suite *s = suite_create("limiter-gcra");
    TCase *tc = tcase_create("gcra");
    tcase_add_test(tc, test_gcra_reproduces_redis_cell_it_rate_limits_sequence);
    tcase_add_test(tc, test_gcra_throttle_reply_matches_cl_throttle_readme_example);
    tcase_add_test(tc, test_gcra_throttle_reply_rounds_up_only_whole_milliseconds);
    tcase_add_test(tc, test_gcra_fresh_bucket_admits_exactly_limit_then_one_per_interval);
    tcase_add_test(tc, test_gcra_limited_request_leaves_state_unchanged);
    tcase_add_test(tc, test_gcra_cost_zero_peeks_without_consuming);
    tcase_add_test(tc, test_gcra_cost_above_limit_is_never_admitted_and_has_no_retry);
    tcase_add_test(tc, test_gcra_time_going_backwards_never_admits_more);
    tcase_add_test(tc, test_gcra_merge_only_raises_the_tat);
    tcase_add_test(tc, test_gcra_decide_is_pure_and_matches_allow);
    tcase_add_test(tc, test_gcra_remaining_uses_redis_cell_microsecond_division);
    tcase_add_test(tc, test_gcra_remaining_is_capped_at_limit_when_interval_is_not_whole_microseconds);
    tcase_add_test(tc, test_gcra_admit_gives_the_same_decisions_as_allow);
    tcase_add_test(tc, test_gcra_exclusive_mode_makes_the_same_decisions_and_numbers);
    tcase_add_test(tc, test_gcra_remaining_equals_integer_division_on_many_configs);
    tcase_add_test(tc, test_gcra_remaining_of_a_full_bucket_equals_integer_division);
    tcase_add_test(tc, test_gcra_rejects_zero_rate);
    tcase_add_test(tc, test_gcra_rejects_negative_nan_and_infinite_rates);
    tcase_add_test(tc, test_gcra_rejects_burst_overflow);
    tcase_add_test(tc, test_gcra_null_and_uninitialised_arguments_are_einval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(gcra_suite());
}

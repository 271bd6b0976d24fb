/*
 * Specification of nginx limit_req mode: the nginx-tests scenarios
 * (limit_req.t, limit_req_delay.t) replayed with hand-driven time, nginx's
 * milli-request arithmetic, the backwards-time clamp, and bad configuration.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/limiter.h"
#include "test_run.h"

#define MS GWLB_NS_PER_MS
#define SEC GWLB_NS_PER_SEC
/* An arbitrary monotonic start (nginx's ngx_current_msec is since boot). */
#define T0 (UINT64_C(987654321) * MS)

static int admit(gwlb_limit_req *l, uint64_t now, gwlb_limit_result *r)
{
    ck_assert_int_eq(gwlb_limit_req_allow(l, now, r), GWLB_OK);
    return r->allowed;
}

static uint64_t excess_of(const gwlb_limit_req *l)
{
    uint64_t excess, last;
    gwlb_limit_req_state_decode(l->state, &excess, &last);
    return excess;
}

START_TEST(test_limit_req_t_2rps_burst1_nodelay_gives_200_200_503)
{
    /* limit_req.t: zone=one rate=2r/s; limit_req zone=one burst=1 nodelay */
    gwlb_limit_req one;
    ck_assert_int_eq(gwlb_limit_req_init(&one, 2, GWLB_LIMIT_REQ_PER_SECOND, 1,
                                         GWLB_LIMIT_REQ_NODELAY), GWLB_OK);
    ck_assert_uint_eq(one.config.rate, 2000);
    ck_assert_uint_eq(one.config.burst, 1000);
    gwlb_limit_result r;
    ck_assert_int_eq(admit(&one, T0, &r), 1);
    ck_assert_uint_eq(r.delay_ns, 0);
    ck_assert_int_eq(admit(&one, T0, &r), 1);
    ck_assert_uint_eq(r.delay_ns, 0); /* nodelay */
    ck_assert_int_eq(admit(&one, T0, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(500 * MS));
    ck_assert_int_eq(admit(&one, T0, &r), 0); /* /status.html, same zone: rejected */
}
END_TEST

START_TEST(test_limit_req_t_rejected_requests_are_not_counted)
{
    /* Two admitted, four rejected, then 0.6 s later: admitted again (the
     * rejects did not raise the excess: 1000 - 2000 * 600 / 1000 + 1000 = 800). */
    gwlb_limit_req one;
    gwlb_limit_req_init(&one, 2, GWLB_LIMIT_REQ_PER_SECOND, 1, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    admit(&one, T0, &r);
    admit(&one, T0, &r);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(admit(&one, T0, &r), 0);
    ck_assert_uint_eq(excess_of(&one), 1000);
    ck_assert_int_eq(admit(&one, T0 + 600 * MS, &r), 1);
    ck_assert_uint_eq(excess_of(&one), 800);
}
END_TEST

START_TEST(test_limit_req_t_second_long_request_is_delayed_500ms)
{
    /* zone=long rate=2r/s; limit_req zone=long burst=5 (no nodelay). */
    gwlb_limit_req lng;
    gwlb_limit_req_init(&lng, 2, GWLB_LIMIT_REQ_PER_SECOND, 5, 0);
    gwlb_limit_result r;
    ck_assert_int_eq(admit(&lng, T0, &r), 1);
    ck_assert_uint_eq(r.delay_ns, 0);
    ck_assert_int_eq(admit(&lng, T0, &r), 1);
    ck_assert_uint_eq(r.delay_ns, 500 * MS);
}
END_TEST

START_TEST(test_limit_req_t_negative_excess_is_clamped_to_zero)
{
    /* zone=fast rate=1000r/s burst=1: 100 ms later the excess would be
     * 0 - 1000000 * 100 / 1000 + 1000 < 0, so 0: admitted without delay. */
    gwlb_limit_req fast;
    gwlb_limit_req_init(&fast, 1000, GWLB_LIMIT_REQ_PER_SECOND, 1, 0);
    gwlb_limit_result r;
    admit(&fast, T0, &r);
    ck_assert_int_eq(admit(&fast, T0 + 100 * MS, &r), 1);
    ck_assert_uint_eq(r.delay_ns, 0);
    ck_assert_uint_eq(excess_of(&fast), 0);
}
END_TEST

START_TEST(test_limit_req_delay_t_30rpm_delay1_burst2)
{
    /* limit_req_delay.t: rate=30r/m; limit_req zone=one delay=1 burst=2 */
    gwlb_limit_req one;
    gwlb_limit_req_init(&one, 30, GWLB_LIMIT_REQ_PER_MINUTE, 2, 1);
    ck_assert_uint_eq(one.config.rate, 500);
    gwlb_limit_result r;
    ck_assert_int_eq(admit(&one, T0, &r), 1);
    ck_assert_uint_eq(r.delay_ns, 0);
    ck_assert_int_eq(admit(&one, T0, &r), 1); /* excess 1000 <= delay: not yet delayed */
    ck_assert_uint_eq(r.delay_ns, 0);
    ck_assert_int_eq(admit(&one, T0, &r), 1); /* excess 2000: (2000 - 1000) * 1000 / 500 */
    ck_assert_uint_eq(r.delay_ns, 2000 * MS);
    /* +0.2 s: 2000 - 500 * 200 / 1000 + 1000 = 2900 > 2000: rejected */
    ck_assert_int_eq(admit(&one, T0 + 200 * MS, &r), 0);
    ck_assert_uint_eq(excess_of(&one), 2000);
}
END_TEST

START_TEST(test_limit_req_rate_per_minute_truncates_like_nginx)
{
    gwlb_limit_req_config cfg;
    ck_assert_int_eq(gwlb_limit_req_config_init(&cfg, 1, GWLB_LIMIT_REQ_PER_MINUTE, 0, 0), GWLB_OK);
    ck_assert_uint_eq(cfg.rate, 16); /* 1 * 1000 / 60 */
    ck_assert_int_eq(gwlb_limit_req_config_init(&cfg, 7, GWLB_LIMIT_REQ_PER_MINUTE, 0, 0), GWLB_OK);
    ck_assert_uint_eq(cfg.rate, 116);
}
END_TEST

START_TEST(test_limit_req_first_request_on_fresh_state_has_zero_excess)
{
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_SECOND, 0, 0);
    gwlb_limit_result r;
    ck_assert_int_eq(admit(&l, T0, &r), 1);
    ck_assert_uint_eq(excess_of(&l), 0);
    ck_assert_uint_eq(r.limit, 1);
    ck_assert_uint_eq(r.remaining, 0);
    /* burst 0: the next request within one second is rejected */
    ck_assert_int_eq(admit(&l, T0 + 999 * MS, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(1 * MS));
    ck_assert_int_eq(admit(&l, T0 + 1000 * MS, &r), 1);
    ck_assert_uint_eq(excess_of(&l), 0);
}
END_TEST

START_TEST(test_limit_req_milli_request_arithmetic_truncates_each_step)
{
    /* 3r/s = 3000 milli/s. 1 ms steps decay 3000 * 1 / 1000 = 3 each. */
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 3, GWLB_LIMIT_REQ_PER_SECOND, 10, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    admit(&l, T0, &r);            /* 0 */
    admit(&l, T0 + 1 * MS, &r);   /* 0 - 3 + 1000 -> 997 */
    ck_assert_uint_eq(excess_of(&l), 997);
    admit(&l, T0 + 334 * MS, &r); /* 997 - 3000 * 333 / 1000 (999) + 1000 = 998 */
    ck_assert_uint_eq(excess_of(&l), 998);
    ck_assert_uint_eq(r.remaining, 9);
    ck_assert_uint_eq(r.reset_after_ns, 332 * MS); /* 998 * 1000 / 3000 */
}
END_TEST

START_TEST(test_limit_req_small_backwards_step_counts_as_zero_ms)
{
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_SECOND, 5, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    admit(&l, T0, &r);
    admit(&l, T0 + 500 * MS, &r); /* 0 - 500 + 1000 = 500, last = T0+500 */
    ck_assert_uint_eq(excess_of(&l), 500);
    admit(&l, T0 + 400 * MS, &r); /* ms = -100 -> 0: 500 + 1000, last unchanged */
    ck_assert_uint_eq(excess_of(&l), 1500);
    uint64_t excess, last;
    gwlb_limit_req_state_decode(l.state, &excess, &last);
    ck_assert_uint_eq(last, (T0 / MS + 500) & ((UINT64_C(1) << 38) - 1));
}
END_TEST

START_TEST(test_limit_req_large_backwards_step_counts_as_one_ms)
{
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_SECOND, 5, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    admit(&l, T0, &r);
    admit(&l, T0, &r); /* 1000 */
    /* 61 s back: ms = 1: 1000 - 1000 * 1 / 1000 + 1000 = 1999, last = now */
    admit(&l, T0 - 61 * SEC, &r);
    ck_assert_uint_eq(excess_of(&l), 1999);
    uint64_t excess, last;
    gwlb_limit_req_state_decode(l.state, &excess, &last);
    ck_assert_uint_eq(last, (T0 / MS - 61000) & ((UINT64_C(1) << 38) - 1));
    /* exactly -60000 ms is still "small": ms = 0 */
    admit(&l, T0 - 121 * SEC, &r);
    ck_assert_uint_eq(excess_of(&l), 2999);
}
END_TEST

/* The boundary of the clamp: -60000 ms is 0 ms, -60001 ms is 1 ms. */
START_TEST(test_limit_req_backwards_step_of_60001_ms_counts_as_one_ms)
{
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_SECOND, 5, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    admit(&l, T0, &r);
    admit(&l, T0 - 60000 * MS, &r); /* ms = 0: 1000, last = T0 */
    ck_assert_uint_eq(excess_of(&l), 1000);
    admit(&l, T0 - 60001 * MS, &r); /* ms = 1: 1000 - 1 + 1000, last = now */
    ck_assert_uint_eq(excess_of(&l), 1999);
    uint64_t excess, last;
    gwlb_limit_req_state_decode(l.state, &excess, &last);
    ck_assert_uint_eq(last, (T0 / MS - 60001) & ((UINT64_C(1) << 38) - 1));
}
END_TEST

START_TEST(test_limit_req_long_idle_drains_completely)
{
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_MINUTE, 3, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(admit(&l, T0, &r), 1);
    ck_assert_int_eq(admit(&l, T0, &r), 0);
    /* 3 years later (inside the 2^37 ms ring): max(0, 3000 - decay + 1000) = 0 */
    ck_assert_int_eq(admit(&l, T0 + UINT64_C(3) * 365 * 86400 * SEC, &r), 1);
    ck_assert_uint_eq(excess_of(&l), 0);
}
END_TEST

START_TEST(test_limit_req_rejects_rate_zero_and_bad_unit_and_burst_overflow)
{
    gwlb_limit_req l;
    memset(&l, 0x5A, sizeof l);
    gwlb_limit_req copy = l;
    ck_assert_int_eq(gwlb_limit_req_init(&l, 0, GWLB_LIMIT_REQ_PER_SECOND, 1, 0), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_limit_req_init(&l, GWLB_LIMIT_REQ_RATE_MAX + 1,
                                         GWLB_LIMIT_REQ_PER_SECOND, 1, 0), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_limit_req_init(&l, 1, (enum gwlb_limit_req_unit)3600, 1, 0),
                     GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_SECOND,
                                         GWLB_LIMIT_REQ_BURST_MAX + 1, 0), GWLB_EOVERFLOW);
    ck_assert_mem_eq(&l, &copy, sizeof l);
    ck_assert_int_eq(gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_SECOND,
                                         GWLB_LIMIT_REQ_BURST_MAX, 0), GWLB_OK);
    ck_assert_int_eq(gwlb_limit_req_init(NULL, 1, GWLB_LIMIT_REQ_PER_SECOND, 1, 0), GWLB_EINVAL);
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_limit_req_allow(NULL, 0, &r), GWLB_EINVAL);
    uint64_t e, t;
    ck_assert_int_eq(gwlb_limit_req_state_decode(0, NULL, &t), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_limit_req_state_decode(0, &e, &t), 0);
}
END_TEST

START_TEST(test_limit_req_burst_max_fills_without_saturating)
{
    gwlb_limit_req l;
    gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_MINUTE, GWLB_LIMIT_REQ_BURST_MAX,
                        GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_result r;
    uint64_t admitted = 0;
    for (uint64_t i = 0; i < GWLB_LIMIT_REQ_BURST_MAX + 5; i++)
        admitted += (uint64_t)admit(&l, T0, &r);
    ck_assert_uint_eq(admitted, GWLB_LIMIT_REQ_BURST_MAX + 1);
    ck_assert_uint_eq(excess_of(&l), GWLB_LIMIT_REQ_BURST_MAX * 1000);
}
END_TEST

/* A config built by hand with a burst the packed word cannot hold is capped
 * at GWLB_LIMIT_REQ_BURST_MAX: the excess never spills into `last`. */
START_TEST(test_limit_req_hand_made_burst_above_max_is_capped)
{
    gwlb_limit_req l;
    ck_assert_int_eq(gwlb_limit_req_init(&l, 1, GWLB_LIMIT_REQ_PER_MINUTE, 0,
                                         GWLB_LIMIT_REQ_NODELAY),
                     GWLB_OK);
    l.config.burst = (GWLB_LIMIT_REQ_BURST_MAX + 50) * 1000;
    gwlb_limit_result r;
    uint64_t admitted = 0, excess, last;
    for (uint64_t i = 0; i < GWLB_LIMIT_REQ_BURST_MAX + 100; i++)
        admitted += (uint64_t)admit(&l, T0, &r);
    ck_assert_uint_eq(admitted, GWLB_LIMIT_REQ_BURST_MAX + 1);
    ck_assert_int_eq(gwlb_limit_req_state_decode(l.state, &excess, &last), 1);
    ck_assert_uint_eq(excess, GWLB_LIMIT_REQ_BURST_MAX * 1000);
    ck_assert_uint_eq(last, (T0 / MS) & ((UINT64_C(1) << 38) - 1));
    ck_assert_uint_eq(r.limit, GWLB_LIMIT_REQ_BURST_MAX + 1);
}
END_TEST

static uint64_t seq_next(uint64_t *s)
{
    *s += UINT64_C(0x9e3779b97f4a7c15);
    return gwlb_mix64(*s);
}

START_TEST(test_limit_req_exclusive_mode_makes_the_same_decisions_and_numbers)
{
    gwlb_limit_req shared, excl;
    ck_assert_int_eq(gwlb_limit_req_init(&shared, 30, GWLB_LIMIT_REQ_PER_MINUTE, 5, 2), GWLB_OK);
    excl = shared;
    uint64_t s = 3, now = T0, admitted = 0, delayed = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t x = seq_next(&s);
        if (x % 97 == 0)
            now -= (x >> 8) % (120 * SEC); /* now and then, time goes backwards */
        else
            now += (x >> 8) % (3 * SEC);
        gwlb_limit_result a, b;
        memset(&a, 0x5a, sizeof a);
        memset(&b, 0xa5, sizeof b);
        ck_assert_int_eq(gwlb_limit_req_allow(&shared, now, &a), GWLB_OK);
        ck_assert_int_eq(gwlb_limit_req_allow_exclusive(&excl, now, &b), GWLB_OK);
        ck_assert_mem_eq(&a, &b, sizeof a);
        ck_assert_uint_eq(shared.state, excl.state);
        admitted += (uint64_t)a.allowed;
        delayed += a.delay_ns != 0;
    }
    ck_assert_uint_gt(admitted, 1000);
    ck_assert_uint_lt(admitted, 19000);
    ck_assert_uint_gt(delayed, 100);
    ck_assert_int_eq(gwlb_limit_req_allow_exclusive(NULL, 0, NULL), GWLB_EINVAL);
    gwlb_limit_req zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_int_eq(gwlb_limit_req_allow_exclusive(&zero, 0, NULL), GWLB_EINVAL);
}
END_TEST

/* The header's formulas with plain integer division (nginx's own), as the
 * oracle for the library's division-free arithmetic. */
START_TEST(test_limit_req_numbers_equal_integer_division_on_many_rates)
{
    uint64_t s = 4, checked = 0;
    for (int i = 0; i < 60000; i++) {
        uint64_t x = seq_next(&s), y = seq_next(&s);
        uint64_t rate = 1 + (x % 3 == 0 ? y % 100 : y % (UINT64_C(1) << ((x >> 4) % 31)));
        enum gwlb_limit_req_unit unit = (x >> 10) & 1 ? GWLB_LIMIT_REQ_PER_SECOND
                                                      : GWLB_LIMIT_REQ_PER_MINUTE;
        uint64_t burst = (x >> 12) % 3 == 0 ? (y >> 33) % (GWLB_LIMIT_REQ_BURST_MAX + 1)
                                            : (y >> 33) % 50;
        uint64_t delay = (x >> 16) % 4 == 0 ? GWLB_LIMIT_REQ_NODELAY : (y >> 40) % 60;
        gwlb_limit_req_config c;
        if (gwlb_limit_req_config_init(&c, rate, unit, burst, delay) != GWLB_OK)
            continue;
        uint64_t excess = seq_next(&s) % (c.burst + 1001), last = 1000000;
        uint64_t ms = (x >> 20) % 4 == 0 ? 0 : (y >> 20) % 5000;
        uint64_t state = (UINT64_C(1) << 63) | (last << 25) | excess;
        gwlb_limit_result r;
        uint64_t next;
        ck_assert_int_eq(gwlb_limit_req_decide(&c, state, (last + ms) * MS, &r, &next),
                         GWLB_OK);
        /* The CAS path (its own shortcuts) gives the same bytes and word. */
        uint64_t word = state;
        gwlb_limit_result via_cas;
        memset(&via_cas, 0x5a, sizeof via_cas);
        ck_assert_int_eq(gwlb_limit_req_state_allow(&c, &word, (last + ms) * MS, &via_cas),
                         GWLB_OK);
        ck_assert_mem_eq(&via_cas, &r, sizeof r);
        ck_assert_uint_eq(word, next);
        uint64_t decay = c.rate * ms / 1000;
        uint64_t e = excess + 1000 > decay ? excess + 1000 - decay : 0;
        if (e > c.burst) {
            uint64_t a = (excess + 1000 - c.burst) * 1000;
            uint64_t need = a / c.rate + (a % c.rate != 0);
            ck_assert_int_eq(r.allowed, 0);
            ck_assert_int_eq(r.retry_after_ns, (int64_t)((need > ms ? need - ms : 0) * MS));
            ck_assert_uint_eq(r.reset_after_ns, (e > 1000 ? e - 1000 : 0) * 1000 / c.rate * MS);
        } else {
            ck_assert_int_eq(r.allowed, 1);
            ck_assert_uint_eq(r.reset_after_ns, e * 1000 / c.rate * MS);
            ck_assert_uint_eq(r.delay_ns, e <= c.delay ? 0 : (e - c.delay) * 1000 / c.rate * MS);
        }
        checked++;
    }
    ck_assert_uint_gt(checked, 20000);
}
END_TEST

/* At 1000 r/s and more a rejected request's retry is 1 ms without a
 * divide; through _allow and _allow_exclusive, a flood of requests (many
 * per millisecond) gets the integer-division numbers on every rejection. */
START_TEST(test_limit_req_high_rate_rejections_equal_integer_division_in_both_modes)
{
    static const uint64_t rates[] = {1000, 1001, 2000, 4999, 100000, 1000000000};
    static const uint64_t bursts[] = {0, 1, 20, 33553};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        for (size_t j = 0; j < sizeof bursts / sizeof bursts[0]; j++) {
            gwlb_limit_req shared, excl;
            ck_assert_int_eq(gwlb_limit_req_init(&shared, rates[i], GWLB_LIMIT_REQ_PER_SECOND,
                                                 bursts[j], 10), GWLB_OK);
            excl = shared;
            uint64_t now = T0, rejected = 0;
            for (int k = 0; k < 3000; k++) {
                now += rates[i] <= 5000 ? 97 * GWLB_NS_PER_US : 1013; /* 10 or 987 per ms */
                uint64_t before = shared.state, excess, last;
                gwlb_limit_req_state_decode(before, &excess, &last);
                gwlb_limit_result a, b;
                ck_assert_int_eq(gwlb_limit_req_allow(&shared, now, &a), GWLB_OK);
                ck_assert_int_eq(gwlb_limit_req_allow_exclusive(&excl, now, &b), GWLB_OK);
                ck_assert_mem_eq(&a, &b, sizeof a);
                if (a.allowed)
                    continue;
                rejected++;
                uint64_t ms = now / MS - last, r = shared.config.rate;
                uint64_t e = excess + 1000 - r * ms / 1000; /* > burst: no clamp */
                uint64_t need = (excess + 1000 - shared.config.burst) * 1000;
                uint64_t need_ms = need / r + (need % r != 0);
                ck_assert_int_eq(a.retry_after_ns, (int64_t)((need_ms > ms ? need_ms - ms : 0) * MS));
                ck_assert_uint_eq(a.reset_after_ns, (e - 1000) * 1000 / r * MS);
            }
            if (rates[i] <= 100000 && bursts[j] <= 20) /* else all admitted */
                ck_assert_uint_gt(rejected, 0);
        }
    }
}
END_TEST

static Suite *limit_req_suite(void)
{
    Suite *s = suite_create("limiter-limit-req");
    TCase *tc = tcase_create("nginx");
    tcase_add_test(tc, test_limit_req_t_2rps_burst1_nodelay_gives_200_200_503);
    tcase_add_test(tc, test_limit_req_t_rejected_requests_are_not_counted);
    tcase_add_test(tc, test_limit_req_t_second_long_request_is_delayed_500ms);
    tcase_add_test(tc, test_limit_req_t_negative_excess_is_clamped_to_zero);
    tcase_add_test(tc, test_limit_req_delay_t_30rpm_delay1_burst2);
    tcase_add_test(tc, test_limit_req_rate_per_minute_truncates_like_nginx);
    tcase_add_test(tc, test_limit_req_first_request_on_fresh_state_has_zero_excess);
    tcase_add_test(tc, test_limit_req_milli_request_arithmetic_truncates_each_step);
    tcase_add_test(tc, test_limit_req_small_backwards_step_counts_as_zero_ms);
    tcase_add_test(tc, test_limit_req_large_backwards_step_counts_as_one_ms);
    tcase_add_test(tc, test_limit_req_backwards_step_of_60001_ms_counts_as_one_ms);
    tcase_add_test(tc, test_limit_req_long_idle_drains_completely);
    tcase_add_test(tc, test_limit_req_rejects_rate_zero_and_bad_unit_and_burst_overflow);
    tcase_add_test(tc, test_limit_req_burst_max_fills_without_saturating);
    tcase_add_test(tc, test_limit_req_hand_made_burst_above_max_is_capped);
    tcase_add_test(tc, test_limit_req_exclusive_mode_makes_the_same_decisions_and_numbers);
    tcase_add_test(tc, test_limit_req_numbers_equal_integer_division_on_many_rates);
    tcase_add_test(tc, test_limit_req_high_rate_rejections_equal_integer_division_in_both_modes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(limit_req_suite());
}

/*
 * Specification of the balancer: host table, runtime state across rebuilds,
 * eligibility, and each algorithm with exact expected sequences.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer/balancer_internal.h"
#include "gwlb.h"
#include "test_alloc.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define MS GWLB_NS_PER_MS

static char names[64][32];

static void hosts_fill(gwlb_balancer_host *h, const uint32_t *w, int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "10.0.0.%d:80", i + 1);
        gwlb_balancer_host_init(&h[i], names[i]);
        h[i].weight = w ? w[i] : 1;
        h[i].user_data = (uint64_t)(100 + i);
    }
}

static gwlb_balancer_state *new_state(uint32_t cap)
{
    gwlb_balancer_state *st = NULL;
    ck_assert_int_eq(gwlb_balancer_state_new(cap, NULL, &st), GWLB_OK);
    return st;
}

static gwlb_balancer *build(gwlb_balancer_state *st, int alg, const gwlb_balancer_host *h, int n)
{
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.start_mode = GWLB_BALANCER_START_FIXED;
    c.start = 0;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, (uint32_t)n, st, 0, &b, NULL), GWLB_OK);
    return b;
}

static gwlb_balancer *build_w(gwlb_balancer_state *st, int alg, const uint32_t *w, int n)
{
    gwlb_balancer_host h[64];
    hosts_fill(h, w, n);
    return build(st, alg, h, n);
}

/* pick and release at once (success), return the host index */
static int pick_release(gwlb_balancer *b, uint64_t now)
{
    gwlb_balancer_result r;
    int rc = gwlb_balancer_pick(b, now, &r);
    if (rc != GWLB_OK)
        return rc;
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, now), GWLB_OK);
    return (int)r.host_index;
}

static void sequence(gwlb_balancer *b, uint64_t now, char *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (char)('a' + pick_release(b, now));
    out[n] = '\0';
}

static gwlb_balancer_host_stats hstats(gwlb_balancer *b, uint32_t i)
{
    gwlb_balancer_host_stats s;
    ck_assert_int_eq(gwlb_balancer_host_stats_get(b, i, &s), GWLB_OK);
    return s;
}

/* ---- nginx smooth weighted round robin ----------------------------------- */

START_TEST(test_swrr_matches_nginx_sequence_5_1_1)
{
    gwlb_balancer_state *st = new_state(8);
    uint32_t w[] = {5, 1, 1};
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, w, 3);
    char seq[32];
    sequence(b, 0, seq, 14);
    ck_assert_str_eq(seq, "aabacaaaabacaa");
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_swrr_failure_reduces_effective_weight_then_recovers_by_one_per_pick)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[2];
    uint32_t w[] = {4, 1};
    hosts_fill(h, w, 2);
    h[0].max_fails = 2;
    gwlb_balancer *b = build(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, h, 2);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    ck_assert_uint_eq(r.host_index, 0);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_FAILURE, 0, 0), GWLB_OK);
    ck_assert_int_eq(hstats(b, 0).effective_weight, 2); /* 4 - 4/2 */
    ck_assert_uint_eq(hstats(b, 0).fails, 1);
    ck_assert_int_eq(hstats(b, 0).current_weight, -1);
    ck_assert_int_eq(pick_release(b, 0), 1);
    ck_assert_int_eq(hstats(b, 0).effective_weight, 3);
    ck_assert_int_eq(pick_release(b, 0), 0);
    ck_assert_int_eq(hstats(b, 0).effective_weight, 4);
    char seq[8];
    sequence(b, 0, seq, 3);
    ck_assert_str_eq(seq, "aab");
    /* fails (1 < max_fails 2) was not reset: the failure's checked == accessed */
    ck_assert_uint_eq(hstats(b, 0).fails, 1);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_swrr_effective_weight_floors_at_zero)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[2];
    uint32_t w[] = {3, 1};
    hosts_fill(h, w, 2);
    h[0].max_fails = 1;
    gwlb_balancer *b = build(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, h, 2);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    ck_assert_uint_eq(r.host_index, 0);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_GATEWAY_FAILURE, 0, 0), GWLB_OK);
    ck_assert_int_eq(hstats(b, 0).effective_weight, 0);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_nginx_failed_host_is_skipped_for_fail_timeout_then_one_trial)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, NULL, 2);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    ck_assert_uint_eq(r.host_index, 0);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_LOCAL_ORIGIN_FAILURE, 0, 0),
                     GWLB_OK);
    /* max_fails 1, fail_timeout 10 s: host a is out until now - checked > 10 s */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(pick_release(b, 10 * SEC), 1);
    /* after 10 s it takes part again; the trial pick refreshes `checked` */
    int seen_a = 0;
    for (int i = 0; i < 3 && !seen_a; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(b, 10 * SEC + 1, &r), GWLB_OK);
        if (r.host_index == 0) {
            seen_a = 1;
            /* while the trial is in flight a is failed again (checked = now) */
            for (int j = 0; j < 3; j++)
                ck_assert_int_eq(pick_release(b, 10 * SEC + 2), 1);
            ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 11 * SEC),
                             GWLB_OK);
        } else {
            ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 11 * SEC),
                             GWLB_OK);
        }
    }
    ck_assert(seen_a);
    ck_assert_uint_eq(hstats(b, 0).fails, 0); /* accessed < checked: marked live */
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_nginx_single_server_is_never_marked_down)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, NULL, 1);
    for (int i = 0; i < 5; i++) {
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_FAILURE, 0, 0), GWLB_OK);
    }
    ck_assert_uint_eq(hstats(b, 0).fails, 0);
    ck_assert_int_eq(hstats(b, 0).effective_weight, 1);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_swrr_pick_excluding_skips_tried_hosts)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, NULL, 3);
    uint64_t tried = 1u; /* host 0 */
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick_excluding(b, 0, &tried, 1, &r), GWLB_OK);
    ck_assert_uint_eq(r.host_index, 1);
    tried = 7;
    ck_assert_int_eq(gwlb_balancer_pick_excluding(b, 0, &tried, 1, &r), GWLB_ENOHOST);
    ck_assert_int_eq(gwlb_balancer_pick_excluding(b, 0, NULL, 1, &r), GWLB_EINVAL);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_nginx_rr_fallback_helper_takes_host_like_nginx)
{
    gwlb_balancer_state *st = new_state(8);
    uint32_t w[] = {5, 1, 1};
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, w, 3);
    char seq[8];
    for (int i = 0; i < 7; i++) {
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb__balancer_nginx_rr(b, 0, NULL, 0, &r), GWLB_OK);
        seq[i] = (char)('a' + r.host_index);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    }
    seq[7] = 0;
    ck_assert_str_eq(seq, "aabacaa");
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- nginx least_conn ----------------------------------------------------- */

START_TEST(test_least_conn_prefers_fewest_and_breaks_ties_with_swrr)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_LEAST_CONN, NULL, 2);
    gwlb_balancer_result r1, r2, r3;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r1), GWLB_OK);
    ck_assert_uint_eq(r1.host_index, 0); /* tie: SWRR, first wins */
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r2), GWLB_OK);
    ck_assert_uint_eq(r2.host_index, 1); /* 0 conns < 1 */
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r3), GWLB_OK);
    ck_assert_uint_eq(r3.host_index, 1); /* tie again: SWRR (a -1+1=0, b 1+1=2) */
    ck_assert_int_eq(hstats(b, 0).current_weight, 0);
    ck_assert_int_eq(hstats(b, 1).current_weight, 0);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_least_conn_compares_conns_per_weight)
{
    gwlb_balancer_state *st = new_state(8);
    uint32_t w[] = {1, 3};
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_LEAST_CONN, w, 2);
    gwlb_balancer_result r[4];
    /* hold: a 1 conn, b 2 conns -> 1*3 > 2*1: b is less loaded */
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r[0]), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 1, 0, &r[1]), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 1, 0, &r[2]), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r[3]), GWLB_OK);
    ck_assert_uint_eq(r[3].host_index, 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(gwlb_balancer_release(b, &r[i], GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Round robin / weighted round robin ---------------------------------- */

START_TEST(test_round_robin_cycles_in_order_from_fixed_start)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_ROUND_ROBIN, NULL, 3);
    char seq[16];
    sequence(b, 0, seq, 7);
    ck_assert_str_eq(seq, "abcabca");
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_choose_picks_without_counting_in_flight)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_ROUND_ROBIN, NULL, 3);
    gwlb_balancer_result r;
    char seq[8];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(gwlb_balancer_choose(b, 0, &r), GWLB_OK);
        seq[i] = (char)('a' + r.host_index);
        ck_assert_uint_eq(hstats(b, r.host_index).in_flight, 0);
    }
    seq[4] = 0;
    ck_assert_str_eq(seq, "abca");
    ck_assert_uint_eq(r.user_data, 100);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_ESTATE);
    ck_assert_int_eq(gwlb_balancer_choose(NULL, 0, &r), GWLB_EINVAL);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_round_robin_start_offsets_differ_by_seed)
{
    gwlb_balancer_host h[10];
    hosts_fill(h, NULL, 10);
    int firsts[4];
    for (int s = 0; s < 4; s++) {
        gwlb_balancer_state *st = new_state(16);
        gwlb_balancer_config c;
        gwlb_balancer_config_init(&c, GWLB_BALANCER_ROUND_ROBIN);
        c.seed = (uint64_t)s * 7919;
        gwlb_balancer *b = NULL;
        ck_assert_int_eq(gwlb_balancer_build(&c, h, 10, st, 0, &b, NULL), GWLB_OK);
        firsts[s] = pick_release(b, 0);
        gwlb_balancer_free(b);
        gwlb_balancer_state_free(st);
    }
    ck_assert(firsts[0] != firsts[1] || firsts[1] != firsts[2] || firsts[2] != firsts[3]);
}
END_TEST

START_TEST(test_weighted_round_robin_counts_follow_weights_per_cycle)
{
    gwlb_balancer_state *st = new_state(8);
    uint32_t w[] = {4, 2, 1, 1};
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, w, 4);
    int cnt[4] = {0};
    for (int i = 0; i < 80000; i++)
        cnt[pick_release(b, 0)]++;
    /* exact shares 1/2, 1/4, 1/8, 1/8 within 0.5% */
    ck_assert_int_le(abs(cnt[0] - 40000), 400);
    ck_assert_int_le(abs(cnt[1] - 20000), 200);
    ck_assert_int_le(abs(cnt[2] - 10000), 100);
    ck_assert_int_le(abs(cnt[3] - 10000), 100);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_weighted_round_robin_with_equal_weights_is_round_robin)
{
    gwlb_balancer_state *st = new_state(8);
    uint32_t w[] = {3, 3, 3};
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, w, 3);
    char seq[16];
    sequence(b, 0, seq, 6);
    ck_assert_str_eq(seq, "abcabc");
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Least request (P2C) ------------------------------------------------------ */

START_TEST(test_p2c_two_hosts_picks_the_one_with_fewer_in_flight)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_LEAST_REQUEST, NULL, 2);
    gwlb_balancer_result held, r;
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &held), GWLB_OK);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
        ck_assert_uint_eq(r.host_index, 1);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    }
    ck_assert_int_eq(gwlb_balancer_release(b, &held, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_least_request_full_scan_uses_weight_over_active_plus_one)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[3];
    uint32_t w[] = {3, 1, 2};
    hosts_fill(h, w, 3);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_LEAST_REQUEST);
    c.full_scan = 1;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 3, st, 0, &b, NULL), GWLB_OK);
    gwlb_balancer_result held[3], r;
    /* a: 3/(2+1) = 1, b: 1/(0+1) = 1, c: 2/(0+1) = 2 -> c */
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &held[0]), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &held[1]), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    ck_assert_uint_eq(r.host_index, 2);
    /* now c: 2/2 = 1, a 1, b 1: all tie; hold c again: c 2/3 -> a or b */
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 2, 0, &held[2]), GWLB_OK);
    gwlb_balancer_result r2;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r2), GWLB_OK);
    ck_assert(r2.host_index == 0 || r2.host_index == 1);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Peak EWMA ------------------------------------------------------------------ */

START_TEST(test_peak_ewma_cost_jumps_up_and_decays_exactly)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_PEAK_EWMA, NULL, 2);
    ck_assert_double_eq(hstats(b, 0).ewma_cost_ns, 30.0 * MS); /* Linkerd default */
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 100 * MS, 1 * SEC),
                     GWLB_OK);
    ck_assert_double_eq(hstats(b, 0).ewma_cost_ns, 100.0 * MS);
    /* dt = tau * ln 2 -> w = 1/2: cost = 100 ms / 2 + 10 ms / 2 = 55 ms */
    uint64_t dt = (uint64_t)(10.0 * SEC * 0.69314718055994530942);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 10 * MS, 1 * SEC + dt),
                     GWLB_OK);
    ck_assert_double_eq_tol(hstats(b, 0).ewma_cost_ns, 55.0 * MS, 1.0);
    /* a slower sample replaces the cost at once (peak) */
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 200 * MS, 1 * SEC + dt),
                     GWLB_OK);
    ck_assert_double_eq(hstats(b, 0).ewma_cost_ns, 200.0 * MS);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* Samples close together (dt of microseconds, as under load: the decay
 * by its polynomial) and far apart (exp): each step follows Finagle's
 * cost·w + rtt·(1 - w), w = exp(-dt/tau), computed here with libm. */
START_TEST(test_peak_ewma_decay_follows_the_formula_for_short_and_long_gaps)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_PEAK_EWMA, NULL, 2);
    static const uint64_t gaps[] = {1000, 7, 250000, 3 * SEC, 1, 40 * MS, 999};
    double expect = 0.0;
    uint64_t now = 5 * SEC;
    for (int i = 0; i < 40; i++) {
        uint64_t gap = gaps[i % 7];
        int64_t rtt = (int64_t)(i % 5 == 0 ? 90 * MS : (uint64_t)(1 + i % 3) * MS);
        now += gap;
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, now, &r), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, rtt, now), GWLB_OK);
        if (i == 0 || (double)rtt > expect) {
            expect = (double)rtt;
        } else {
            double w = exp(-(double)gap / (10.0 * SEC));
            expect = expect * w + (double)rtt * (1.0 - w);
        }
        ck_assert_double_eq_tol(hstats(b, 0).ewma_cost_ns, expect, expect * 1e-13);
    }
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* The release's polynomial range is the integer bound ewma_poly_dt: the
 * largest dt whose exponent -(double)dt / tau (by the reciprocal, as the
 * release computes it) is above -2^-11, for several taus. */
START_TEST(test_peak_ewma_polynomial_range_is_exact_in_dt)
{
    static const uint64_t taus[] = {1, 7, 1000, 10 * SEC, 3 * SEC + 1, UINT64_MAX};
    for (int i = 0; i < 6; i++) {
        gwlb_balancer_state *st = new_state(8);
        gwlb_balancer_host h[2];
        hosts_fill(h, NULL, 2);
        gwlb_balancer_config c;
        gwlb_balancer_config_init(&c, GWLB_BALANCER_PEAK_EWMA);
        c.ewma_decay_ns = taus[i];
        gwlb_balancer *b = NULL;
        ck_assert_int_eq(gwlb_balancer_build(&c, h, 2, st, 0, &b, NULL), GWLB_OK);
        uint64_t d = b->ewma_poly_dt;
        ck_assert(-(double)d * b->inv_decay > -0x1p-11);
        ck_assert(!(-(double)(d + 1) * b->inv_decay > -0x1p-11));
        gwlb_balancer_free(b);
        gwlb_balancer_state_free(st);
    }
}
END_TEST

START_TEST(test_peak_ewma_prefers_the_faster_host)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_PEAK_EWMA, NULL, 2);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 500 * MS, SEC), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 1, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 5 * MS, SEC), GWLB_OK);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(pick_release(b, SEC), 1);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_peak_ewma_time_going_backwards_does_not_decay_or_underflow)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_PEAK_EWMA, NULL, 2);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 100 * MS, 50 * SEC),
                     GWLB_OK);
    /* earlier `now`: elapsed clamps to 0, weight 1: a faster sample changes nothing */
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 1 * MS, 10 * SEC),
                     GWLB_OK);
    ck_assert_double_eq(hstats(b, 0).ewma_cost_ns, 100.0 * MS);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Slow start -------------------------------------------------------------------- */

START_TEST(test_slow_start_factor_matches_envoy_values)
{
    /* w=100, window 60 s, t=15 s: aggression 1 -> 25, aggression 2 -> 50 */
    ck_assert_double_eq_tol(100 * gwlb_balancer_slow_start_factor(15 * SEC, 60 * SEC, 1.0, 10.0),
                            25.0, 1e-9);
    ck_assert_double_eq_tol(100 * gwlb_balancer_slow_start_factor(15 * SEC, 60 * SEC, 2.0, 10.0),
                            50.0, 1e-9);
    /* min weight percent floor: t=3 s -> 5% < 10% */
    ck_assert_double_eq_tol(100 * gwlb_balancer_slow_start_factor(3 * SEC, 60 * SEC, 1.0, 10.0),
                            10.0, 1e-9);
    /* elapsed below 1 ms counts as 1 ms */
    ck_assert_double_eq_tol(gwlb_balancer_slow_start_factor(0, 1000 * MS, 1.0, 0.0), 0.001, 1e-12);
    ck_assert_double_eq(gwlb_balancer_slow_start_factor(60 * SEC, 60 * SEC, 1.0, 10.0), 1.0);
    ck_assert_double_eq(gwlb_balancer_slow_start_factor(5, 0, 1.0, 10.0), 1.0);
}
END_TEST

START_TEST(test_slow_start_scales_a_new_hosts_share)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[2];
    uint32_t w[] = {100, 100};
    hosts_fill(h, w, 2);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
    c.slow_start_window_ns = 60 * SEC;
    gwlb_balancer *b0 = NULL, *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 1, st, 0, &b0, NULL), GWLB_OK);
    /* host b joins at t=100 s; at t=115 s its weight in effect is 25 */
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 2, st, 100 * SEC, &b, NULL), GWLB_OK);
    gwlb_balancer_free(b0);
    int cnt[2] = {0};
    for (int i = 0; i < 100000; i++)
        cnt[pick_release(b, 115 * SEC)]++;
    /* 25 / (100 + 25) = 20% */
    ck_assert_int_le(abs(cnt[1] - 20000), 500);
    /* after the window: equal */
    cnt[0] = cnt[1] = 0;
    for (int i = 0; i < 10000; i++)
        cnt[pick_release(b, 161 * SEC)]++;
    ck_assert_int_le(abs(cnt[1] - 5000), 100);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Host table, rebuilds, state ------------------------------------------------------- */

START_TEST(test_rebuild_from_prev_equals_a_full_build_and_moves_references)
{
    static const uint32_t w[6] = {5, 1, 1, 2, 3, 4};
    gwlb_balancer_state *s1 = new_state(16), *s2 = new_state(16);
    gwlb_balancer_host h[8];
    hosts_fill(h, w, 6);
    gwlb_balancer *a = build(s1, GWLB_BALANCER_NGINX_ROUND_ROBIN, h, 6);
    gwlb_balancer *g = build(s2, GWLB_BALANCER_NGINX_ROUND_ROBIN, h, 6);
    char sa[41], sg[41];
    sequence(a, 0, sa, 40);
    sequence(g, 0, sg, 40);
    ck_assert_str_eq(sa, sg);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    c.start_mode = GWLB_BALANCER_START_FIXED;
    /* one weight change, one host removed from the middle, one added at the end */
    h[1].weight = 3;
    h[4] = h[5];
    snprintf(names[40], sizeof names[40], "10.0.0.99:80");
    gwlb_balancer_host_init(&h[5], names[40]);
    h[5].weight = 2;
    gwlb_balancer *a2 = NULL, *g2 = NULL;
    ck_assert_int_eq(gwlb_balancer_rebuild(a, &c, h, 6, 1, &a2, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 6, s2, 1, &g2, NULL), GWLB_OK);
    for (uint32_t i = 0; i < 6; i++) {
        gwlb_balancer_host_stats x = hstats(a2, i), y = hstats(g2, i);
        ck_assert_uint_eq(x.slot, y.slot);
        ck_assert_uint_eq(x.weight, y.weight);
        ck_assert_int_eq(x.effective_weight, y.effective_weight);
        ck_assert_int_eq(x.current_weight, y.current_weight);
        uint32_t fa = 99, fg = 98;
        ck_assert_int_eq(gwlb_balancer_find_host(a2, names[i < 4 ? i : i == 4 ? 5 : 40], 0, &fa),
                         GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_find_host(g2, names[i < 4 ? i : i == 4 ? 5 : 40], 0, &fg),
                         GWLB_OK);
        ck_assert_uint_eq(fa, i);
        ck_assert_uint_eq(fg, i);
    }
    gwlb_balancer_free(a);
    gwlb_balancer_free(g);
    /* references: one per host of the live balancer, none for the removed host */
    for (uint32_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(s1->slots[hstats(a2, i).slot].owner & GWLB__OWNER_REFS_MASK, 1);
        ck_assert_uint_eq(s2->slots[hstats(g2, i).slot].owner & GWLB__OWNER_REFS_MASK, 1);
    }
    ck_assert_uint_eq(s1->h.slots_used, s2->h.slots_used);
    sequence(a2, 2, sa, 40);
    sequence(g2, 2, sg, 40);
    ck_assert_str_eq(sa, sg);
    /* identical identities: the index is copied; a second rebuild from the same
     * prev claims normally; duplicates are still refused */
    gwlb_balancer *a3 = NULL, *a4 = NULL, *bad = NULL;
    ck_assert_int_eq(gwlb_balancer_rebuild(a2, &c, h, 6, 3, &a3, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_rebuild(a2, &c, h, 6, 3, &a4, NULL), GWLB_OK);
    uint32_t idx = 0;
    ck_assert_int_eq(gwlb_balancer_find_host(a3, names[40], 0, &idx), GWLB_OK);
    ck_assert_uint_eq(idx, 5);
    gwlb_balancer_host dup[6];
    memcpy(dup, h, sizeof dup);
    dup[5] = dup[0];
    gwlb_error_detail d;
    ck_assert_int_eq(gwlb_balancer_rebuild(a3, &c, dup, 6, 3, &bad, &d), GWLB_EEXIST);
    ck_assert_int_eq(d.item, 5);
    ck_assert_int_eq(d.other, 0);
    ck_assert_int_eq(gwlb_balancer_rebuild(NULL, &c, h, 6, 3, &bad, NULL), GWLB_EINVAL);
    gwlb_balancer_free(a2);
    for (uint32_t i = 0; i < 6; i++)
        ck_assert_uint_eq(s1->slots[hstats(a3, i).slot].owner & GWLB__OWNER_REFS_MASK, 2);
    gwlb_balancer_free(a3);
    gwlb_balancer_free(a4);
    for (uint32_t i = 0; i < 16; i++)
        ck_assert_uint_eq(s1->slots[i].owner & GWLB__OWNER_REFS_MASK, 0);
    gwlb_balancer_free(g2);
    gwlb_balancer_state_free(s1);
    gwlb_balancer_state_free(s2);
}
END_TEST

START_TEST(test_rebuild_keeps_state_of_remaining_hosts_and_releases_removed)
{
    gwlb_balancer_state *st = new_state(16);
    gwlb_balancer_host h[4];
    hosts_fill(h, NULL, 4);
    h[1].max_fails = 3;
    gwlb_balancer *b1 = build(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, h, 3); /* a b c */
    gwlb_balancer_result ra, rb;
    ck_assert_int_eq(gwlb_balancer_acquire_host(b1, 0, 0, &ra), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b1, 1, 0, &rb), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b1, &rb, GWLB_BALANCER_FAILURE, 0, 0), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_acquire_host(b1, 1, 0, &rb), GWLB_OK);
    uint32_t slot_b = hstats(b1, 1).slot;
    /* new list: b c d (a removed while a request is in flight) */
    gwlb_balancer *b2 = build(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, h + 1, 3);
    gwlb_balancer_free(b1);
    ck_assert_uint_eq(gwlb_balancer_host_count(b2), 3);
    ck_assert_uint_eq(hstats(b2, 0).slot, slot_b);
    ck_assert_uint_eq(hstats(b2, 0).fails, 1);
    ck_assert_uint_eq(hstats(b2, 0).in_flight, 1);
    ck_assert_uint_eq(hstats(b2, 2).in_flight, 0);
    uint32_t idx;
    ck_assert_int_eq(gwlb_balancer_find_host(b2, "10.0.0.2:80", 0, &idx), GWLB_OK);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(gwlb_balancer_find_host(b2, "10.0.0.1:80", 0, &idx), GWLB_ENOENT);
    /* the removed host's request still releases cleanly */
    ck_assert_int_eq(gwlb_balancer_release(b2, &ra, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    ck_assert_uint_eq(st->slots[ra.slot].in_flight, 0);
    ck_assert_int_eq(gwlb_balancer_release(b2, &rb, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    ck_assert_uint_eq(hstats(b2, 0).in_flight, 0);
    gwlb_balancer_free(b2);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_rebuild_with_changed_weight_resets_effective_weight)
{
    gwlb_balancer_state *st = new_state(8);
    uint32_t w1[] = {1, 1}, w2[] = {3, 1};
    gwlb_balancer *b1 = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, w1, 2);
    ck_assert_int_eq(pick_release(b1, 0), 0);
    gwlb_balancer *b2 = build_w(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, w2, 2);
    gwlb_balancer_free(b1);
    ck_assert_int_eq(hstats(b2, 0).effective_weight, 3);
    ck_assert_uint_eq(hstats(b2, 0).weight, 3);
    ck_assert_int_eq(hstats(b2, 0).current_weight, -1); /* kept */
    gwlb_balancer_free(b2);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_state_slots_are_reused_after_hosts_leave)
{
    gwlb_balancer_state *st = new_state(4);
    gwlb_balancer_host h[8];
    hosts_fill(h, NULL, 8);
    gwlb_balancer *b = build(st, GWLB_BALANCER_ROUND_ROBIN, h, 4);
    gwlb_balancer_free(b);
    /* four other identities: every slot is dormant and gets reclaimed */
    b = build(st, GWLB_BALANCER_ROUND_ROBIN, h + 4, 4);
    gwlb_balancer_stats s;
    ck_assert_int_eq(gwlb_balancer_stats_get(b, 0, &s), GWLB_OK);
    ck_assert_uint_eq(s.hosts, 4);
    ck_assert_uint_eq(s.eligible, 4);
    /* the table is full of referenced slots now: another identity does not fit */
    gwlb_balancer *b2 = NULL;
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_ROUND_ROBIN);
    gwlb_error_detail d;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 1, st, 0, &b2, &d), GWLB_EFULL);
    ck_assert_int_eq(d.item, 0);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_state_attach_validates_region)
{
    size_t sz = gwlb_balancer_state_size(10);
    ck_assert_uint_eq(sz, sizeof(gwlb__bstate_header) + 10 * sizeof(gwlb__bslot));
    ck_assert_uint_eq(gwlb_balancer_state_size(0), 0);
    void *mem = aligned_alloc(64, sz);
    gwlb_balancer_state *st, *st2;
    ck_assert_int_eq(gwlb_balancer_state_init(mem, sz - 1, 10, &st), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_balancer_state_init((char *)mem + 8, sz, 1, &st), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_state_init(mem, sz, 0, &st), GWLB_ERANGE);
    memset(mem, 0, sz);
    ck_assert_int_eq(gwlb_balancer_state_attach(mem, sz, &st2), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_state_init(mem, sz, 10, &st), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_state_attach(mem, sz, &st2), GWLB_OK);
    ck_assert_ptr_eq(st, st2);
    ck_assert_uint_eq(gwlb_balancer_state_capacity(st2), 10);
    ck_assert_int_eq(gwlb_balancer_state_attach(mem, sz - 64, &st2), GWLB_ENOSPC);
    gwlb_balancer_state_free(st); /* not from state_new: no-op */
    free(mem);
}
END_TEST

/* ---- Eligibility: flags, max in-flight, backup, priorities ------------------------------ */

START_TEST(test_flags_make_hosts_ineligible_until_cleared)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[3];
    hosts_fill(h, NULL, 3);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_ROUND_ROBIN);
    c.panic_threshold = 0; /* no Envoy panic: all ineligible means no host */
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 3, st, 0, &b, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 1, GWLB_HOST_DRAINING, 0), GWLB_OK);
    uint32_t fl;
    ck_assert_int_eq(gwlb_balancer_host_flags(b, 1, &fl), GWLB_OK);
    ck_assert_uint_eq(fl, GWLB_HOST_DRAINING);
    for (int i = 0; i < 30; i++)
        ck_assert_int_ne(pick_release(b, 0), 1);
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 0, GWLB_HOST_EJECTED, 0), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 2, GWLB_HOST_FAILED_ACTIVE, 0), GWLB_OK);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_ENOHOST);
    gwlb_balancer_stats s;
    ck_assert_int_eq(gwlb_balancer_stats_get(b, 0, &s), GWLB_OK);
    ck_assert_uint_eq(s.no_host, 1);
    ck_assert_uint_eq(s.eligible, 0);
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 1, 0, GWLB_HOST_DRAINING), GWLB_OK);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(pick_release(b, 0), 1);
    /* bad masks */
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 1, 1u << 20, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 1, 1, 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 3, 1, 0), GWLB_ENOENT);
    ck_assert_int_eq(gwlb_balancer_host_flags(b, 3, &fl), GWLB_ENOENT);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_max_inflight_skips_full_hosts_and_reports_no_host)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[2];
    hosts_fill(h, NULL, 2);
    h[0].max_inflight = 1;
    h[1].max_inflight = 2;
    for (int alg = 0; alg <= GWLB_BALANCER_RANDOM_TWO_CHOICES; alg++) {
        gwlb_balancer *b = build(st, alg, h, 2);
        gwlb_balancer_result r[4];
        int cnt[2] = {0};
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r[i]), GWLB_OK);
            cnt[r[i].host_index]++;
        }
        ck_assert_int_eq(cnt[0], 1);
        ck_assert_int_eq(cnt[1], 2);
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r[3]), GWLB_ENOHOST);
        ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r[3]), GWLB_ENOHOST);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(gwlb_balancer_release(b, &r[i], GWLB_BALANCER_SUCCESS, 0, 0),
                             GWLB_OK);
        gwlb_balancer_free(b);
    }
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_backup_hosts_serve_only_when_all_primaries_are_out)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[3];
    hosts_fill(h, NULL, 3);
    h[2].backup = 1;
    for (int alg = 0; alg <= GWLB_BALANCER_RANDOM_TWO_CHOICES; alg++) {
        gwlb_balancer *b = build(st, alg, h, 3);
        for (int i = 0; i < 20; i++)
            ck_assert_int_ne(pick_release(b, 0), 2);
        gwlb_balancer_host_flags_update(b, 0, GWLB_HOST_MAINTENANCE, 0);
        gwlb_balancer_host_flags_update(b, 1, GWLB_HOST_EJECTED, 0);
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(pick_release(b, 0), 2);
        gwlb_balancer_host_flags_update(b, 1, 0, GWLB_HOST_EJECTED);
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(pick_release(b, 0), 1);
        gwlb_balancer_host_flags_update(b, 0, 0, GWLB_HOST_MAINTENANCE);
        gwlb_balancer_free(b);
    }
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_nginx_backup_used_when_primaries_failed_by_max_fails)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[3];
    hosts_fill(h, NULL, 3);
    h[2].backup = 1;
    gwlb_balancer *b = build(st, GWLB_BALANCER_NGINX_ROUND_ROBIN, h, 3);
    for (int i = 0; i < 2; i++) {
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
        ck_assert_uint_eq(r.host_index, (uint32_t)i);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_FAILURE, 0, 0), GWLB_OK);
    }
    ck_assert_int_eq(pick_release(b, SEC), 2);
    gwlb_balancer_stats s;
    gwlb_balancer_stats_get(b, SEC, &s);
    ck_assert_uint_eq(s.backup_picks, 1);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_priority_overprovisioning_spills_30_percent_to_level_1)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[4];
    hosts_fill(h, NULL, 4);
    h[2].priority = 1;
    h[3].priority = 1;
    gwlb_balancer *b = build(st, GWLB_BALANCER_ROUND_ROBIN, h, 4);
    for (int i = 0; i < 100; i++)
        ck_assert_int_lt(pick_release(b, 0), 2);
    /* one of two p0 hosts down: p0 health min(100, 140*1/2) = 70 -> loads 70/30 */
    gwlb_balancer_host_flags_update(b, 0, GWLB_HOST_FAILED_ACTIVE, 0);
    int cnt[4] = {0};
    for (int i = 0; i < 100000; i++)
        cnt[pick_release(b, 0)]++;
    ck_assert_int_eq(cnt[0], 0);
    ck_assert_int_le(abs(cnt[1] - 70000), 700);
    ck_assert_int_le(abs(cnt[2] + cnt[3] - 30000), 700);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_panic_below_threshold_spreads_over_all_hosts_of_the_level)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_ROUND_ROBIN, NULL, 3);
    /* 1 of 3 healthy = 33% < 50%: panic, all three take traffic */
    gwlb_balancer_host_flags_update(b, 0, GWLB_HOST_FAILED_ACTIVE, 0);
    gwlb_balancer_host_flags_update(b, 1, GWLB_HOST_EJECTED, 0);
    int cnt[3] = {0};
    for (int i = 0; i < 3000; i++)
        cnt[pick_release(b, 0)]++;
    ck_assert_int_eq(cnt[0], 1000);
    ck_assert_int_eq(cnt[1], 1000);
    ck_assert_int_eq(cnt[2], 1000);
    gwlb_balancer_stats s;
    gwlb_balancer_stats_get(b, 0, &s);
    ck_assert_uint_eq(s.panic_picks, 3000);
    /* all three out: total panic still serves (Envoy) */
    gwlb_balancer_host_flags_update(b, 2, GWLB_HOST_MAINTENANCE, 0);
    ck_assert_int_eq(pick_release(b, 0) >= 0, 1);
    gwlb_balancer_host_flags_update(b, 2, 0, GWLB_HOST_MAINTENANCE);
    /* 2 of 3 healthy (66%): no panic */
    gwlb_balancer_host_flags_update(b, 1, 0, GWLB_HOST_EJECTED);
    for (int i = 0; i < 30; i++)
        ck_assert_int_ne(pick_release(b, 0), 0);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_panic_threshold_zero_disables_panic)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[3];
    hosts_fill(h, NULL, 3);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_ROUND_ROBIN);
    c.panic_threshold = 0;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 3, st, 0, &b, NULL), GWLB_OK);
    gwlb_balancer_host_flags_update(b, 0, GWLB_HOST_FAILED_ACTIVE, 0);
    gwlb_balancer_host_flags_update(b, 1, GWLB_HOST_FAILED_ACTIVE, 0);
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(pick_release(b, 0), 2);
    gwlb_balancer_host_flags_update(b, 2, GWLB_HOST_FAILED_ACTIVE, 0);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_ENOHOST);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_degraded_hosts_take_only_the_remainder)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_ROUND_ROBIN, NULL, 4);
    /* 3 healthy of 4: health min(100, 140*3/4=105) = 100: degraded host unused */
    gwlb_balancer_host_flags_update(b, 3, GWLB_HOST_DEGRADED, 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_ne(pick_release(b, 0), 3);
    /* 2 healthy, 2 degraded: health 70, degraded 70 -> 70% healthy, 30% degraded */
    gwlb_balancer_host_flags_update(b, 2, GWLB_HOST_DEGRADED, 0);
    int cnt[4] = {0};
    for (int i = 0; i < 100000; i++)
        cnt[pick_release(b, 0)]++;
    ck_assert_int_le(abs(cnt[0] + cnt[1] - 70000), 700);
    ck_assert_int_le(abs(cnt[2] + cnt[3] - 30000), 700);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_recovered_host_starts_slow_start_at_next_pick)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[2];
    uint32_t w[] = {100, 100};
    hosts_fill(h, w, 2);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_RANDOM);
    c.slow_start_window_ns = 60 * SEC;
    c.slow_start_aggression = 2.0;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 2, st, 0, &b, NULL), GWLB_OK);
    gwlb_balancer_host_flags_update(b, 1, GWLB_HOST_FAILED_ACTIVE, 0);
    gwlb_balancer_host_flags_update(b, 1, 0, GWLB_HOST_FAILED_ACTIVE);
    ck_assert_int_eq(pick_release(b, 100 * SEC) >= 0, 1); /* stamps start = 100 s */
    int cnt[2] = {0};
    for (int i = 0; i < 100000; i++)
        cnt[pick_release(b, 115 * SEC)]++;
    /* weight in effect 50 (aggression 2): 50/150 = 33.3% */
    ck_assert_int_le(abs(cnt[1] - 33333), 700);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Release errors ---------------------------------------------------------------------- */

START_TEST(test_release_errors_leave_state_unchanged)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_PEAK_EWMA, NULL, 2);
    gwlb_balancer_result r, never;
    memset(&never, 0, sizeof never);
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    uint32_t i = r.host_index;
    ck_assert_int_eq(gwlb_balancer_release(b, &never, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_EUNKNOWN);
    gwlb_balancer_result forged = r;
    forged.token ^= 0x100;
    ck_assert_int_eq(gwlb_balancer_release(b, &forged, GWLB_BALANCER_SUCCESS, 0, 0),
                     GWLB_EUNKNOWN);
    forged = r;
    forged.slot = 1000;
    ck_assert_int_eq(gwlb_balancer_release(b, &forged, GWLB_BALANCER_SUCCESS, 0, 0),
                     GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, -5, 0), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, 7, 0, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, -1, 0, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_release(NULL, &r, 0, 0, 0), GWLB_EINVAL);
    ck_assert_uint_eq(hstats(b, i).in_flight, 1);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, GWLB_BALANCER_NO_LATENCY,
                                           0),
                     GWLB_OK);
    ck_assert_uint_eq(hstats(b, i).in_flight, 0);
    ck_assert_double_eq(hstats(b, i).ewma_cost_ns, 30.0 * MS); /* no sample taken */
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_ESTATE);
    ck_assert_uint_eq(hstats(b, i).in_flight, 0);
    /* a copy of a released pick: nothing in flight on the slot any more */
    gwlb_balancer_result copy;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    copy = r;
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &copy, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_ESTATE);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_null_arguments_are_einval)
{
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(NULL, 0, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_acquire_host(NULL, 0, 0, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_host_stats_get(NULL, 0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_stats_get(NULL, 0, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_find_host(NULL, "x", 1, NULL), GWLB_EINVAL);
    ck_assert_uint_eq(gwlb_balancer_host_count(NULL), 0);
    gwlb_balancer_free(NULL);
    gwlb_balancer_state_free(NULL);
    ck_assert_int_eq(gwlb_balancer_state_new(0, NULL, NULL), GWLB_EINVAL);
}
END_TEST

/* ---- Bad build input ------------------------------------------------------------------- */

static void expect_build_error(gwlb_balancer_config *c, gwlb_balancer_host *h, uint32_t n,
                               int code, int32_t item, const char *field)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = (gwlb_balancer *)(uintptr_t)0x1;
    gwlb_error_detail d;
    gwlb_error_detail_init(&d);
    unsigned char before[4096];
    size_t sz = gwlb_balancer_state_size(8);
    memcpy(before, st, sz);
    ck_assert_int_eq(gwlb_balancer_build(c, h, n, st, 0, &b, &d), code);
    ck_assert_int_eq(d.code, code);
    ck_assert_int_eq(d.item, item);
    if (field)
        ck_assert_str_eq(d.field, field);
    ck_assert_ptr_eq(b, (gwlb_balancer *)(uintptr_t)0x1); /* untouched */
    ck_assert_int_eq(memcmp(before, st, sz), 0);            /* state unchanged */
    gwlb_balancer_state_free(st);
}

START_TEST(test_bad_host_input_gets_specific_errors)
{
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
    gwlb_balancer_host h[3];
    hosts_fill(h, NULL, 3);
    expect_build_error(&c, h, 0, GWLB_EMPTY, -1, "hosts");
    h[1].weight = 0;
    expect_build_error(&c, h, 3, GWLB_EWEIGHT, 1, "weight");
    h[1].weight = GWLB_BALANCER_WEIGHT_MAX + 1;
    expect_build_error(&c, h, 3, GWLB_EWEIGHT, 1, "weight");
    h[1].weight = GWLB_BALANCER_WEIGHT_MAX;
    h[2].identity = h[0].identity;
    gwlb_balancer_state *st = new_state(8);
    gwlb_error_detail d;
    gwlb_balancer *b;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 3, st, 0, &b, &d), GWLB_EEXIST);
    ck_assert_int_eq(d.item, 2);
    ck_assert_int_eq(d.other, 0);
    gwlb_balancer_state_free(st);
    expect_build_error(&c, h, 3, GWLB_EEXIST, 2, "identity");
    h[2].identity = "";
    expect_build_error(&c, h, 3, GWLB_EMPTY, 2, "identity");
    h[2].identity = NULL;
    expect_build_error(&c, h, 3, GWLB_EINVAL, 2, "identity");
    char longid[300];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    h[2].identity = longid;
    expect_build_error(&c, h, 3, GWLB_ETOOLONG, 2, "identity");
    h[2].identity = "ok:1";
    h[0].priority = 8;
    expect_build_error(&c, h, 3, GWLB_ERANGE, 0, "priority");
    h[0].priority = 0;
    h[0].backup = 2;
    expect_build_error(&c, h, 3, GWLB_ERANGE, 0, "backup");
    h[0].backup = 0;
    gwlb_balancer_host many[9];
    hosts_fill(many, NULL, 9);
    expect_build_error(&c, many, 9, GWLB_EFULL, -1, "hosts"); /* state has 8 slots */
    expect_build_error(&c, NULL, 3, GWLB_EINVAL, -1, "hosts");
}
END_TEST

START_TEST(test_bad_config_gets_specific_errors)
{
    gwlb_balancer_host h[2];
    hosts_fill(h, NULL, 2);
    gwlb_balancer_config c;
#define BAD(stmt, code, field)                                        \
    do {                                                              \
        gwlb_balancer_config_init(&c, GWLB_BALANCER_LEAST_REQUEST);   \
        stmt;                                                         \
        expect_build_error(&c, h, 2, code, -1, field);                \
    } while (0)
    BAD(c.algorithm = 99, GWLB_EINVAL, "algorithm");
    BAD(c.struct_size = 8, GWLB_EINVAL, "struct_size");
    BAD(c.start_mode = 5, GWLB_EINVAL, "start_mode");
    BAD(c.choice_count = 1, GWLB_ERANGE, "choice_count");
    BAD(c.choice_count = 17, GWLB_ERANGE, "choice_count");
    BAD(c.active_request_bias = NAN, GWLB_ERANGE, "active_request_bias");
    BAD(c.active_request_bias = -1.0, GWLB_ERANGE, "active_request_bias");
    BAD(c.ewma_decay_ns = 0, GWLB_ERANGE, "ewma_decay_ns");
    BAD(c.slow_start_aggression = 0.0, GWLB_ERANGE, "slow_start_aggression");
    BAD(c.slow_start_aggression = NAN, GWLB_ERANGE, "slow_start_aggression");
    BAD(c.slow_start_aggression = INFINITY, GWLB_ERANGE, "slow_start_aggression");
    BAD(c.slow_start_min_weight_percent = 101.0, GWLB_ERANGE, "slow_start_min_weight_percent");
    BAD(c.slow_start_min_weight_percent = NAN, GWLB_ERANGE, "slow_start_min_weight_percent");
    BAD(c.overprovisioning_factor = 0, GWLB_ERANGE, "overprovisioning_factor");
    BAD(c.panic_threshold = 101, GWLB_ERANGE, "panic_threshold");
    BAD(c.full_scan = 2, GWLB_ERANGE, "full_scan");
#undef BAD
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_ROUND_ROBIN);
    ck_assert_int_eq(gwlb_balancer_build(NULL, h, 2, st, 0, &b, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 2, NULL, 0, &b, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 2, st, 0, NULL, NULL), GWLB_EINVAL);
    gwlb_balancer_state_free(st);
}
END_TEST

/* ---- Allocation failures --------------------------------------------------------------- */

START_TEST(test_rebuild_allocation_failure_returns_enomem_and_hands_nothing_over)
{
    gwlb_balancer_host h[6];
    uint32_t w[] = {1, 2, 3, 4, 5, 6};
    hosts_fill(h, w, 6);
    gwlb_balancer_state *st = new_state(16);
    gwlb_balancer *prev = build(st, GWLB_BALANCER_RANDOM, h, 6);
    h[2].weight = 9;
    for (long n = 1;; n++) {
        test_alloc ta;
        test_alloc_init(&ta, n);
        gwlb_balancer_config c;
        gwlb_balancer_config_init(&c, GWLB_BALANCER_RANDOM);
        c.allocator = &ta.allocator;
        gwlb_balancer *b = NULL;
        int rc = gwlb_balancer_rebuild(prev, &c, h, 6, 0, &b, NULL);
        if (rc == GWLB_OK) {
            gwlb_balancer_free(prev);
            for (uint32_t i = 0; i < 6; i++) /* the references moved to b */
                ck_assert_uint_eq(st->slots[hstats(b, i).slot].owner & GWLB__OWNER_REFS_MASK, 1);
            gwlb_balancer_free(b);
            ck_assert_int_eq(ta.live_blocks, 0);
            ck_assert_int_gt(n, 3);
            break;
        }
        ck_assert_int_eq(rc, GWLB_ENOMEM);
        ck_assert_int_eq(ta.live_blocks, 0);
        /* nothing handed over: prev still holds exactly its references */
        for (uint32_t i = 0; i < 6; i++) {
            ck_assert_uint_eq(prev->hosts[i].ref, 0);
            ck_assert_uint_eq(st->slots[prev->hosts[i].slot].owner & GWLB__OWNER_REFS_MASK, 1);
        }
    }
    for (uint32_t s = 0; s < 16; s++)
        ck_assert_uint_eq(st->slots[s].owner & GWLB__OWNER_REFS_MASK, 0);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_every_allocation_failure_returns_enomem_and_leaks_nothing)
{
    gwlb_balancer_host h[6];
    uint32_t w[] = {1, 2, 3, 4, 5, 6};
    hosts_fill(h, w, 6);
    h[5].backup = 1;
    h[4].priority = 1;
    for (long n = 1;; n++) {
        test_alloc ta;
        test_alloc_init(&ta, n);
        gwlb_balancer_state *st = NULL;
        int rc = gwlb_balancer_state_new(16, &ta.allocator, &st);
        if (rc == GWLB_OK) {
            gwlb_balancer_config c;
            gwlb_balancer_config_init(&c, GWLB_BALANCER_RANDOM);
            c.allocator = &ta.allocator;
            gwlb_balancer *b = NULL;
            rc = gwlb_balancer_build(&c, h, 6, st, 0, &b, NULL);
            if (rc == GWLB_OK) {
                ck_assert_int_eq(pick_release(b, 0) >= 0, 1);
                gwlb_balancer_free(b);
                gwlb_balancer_state_free(st);
                ck_assert_int_eq(ta.live_blocks, 0);
                ck_assert_int_eq(ta.size_mismatches, 0);
                ck_assert_int_gt(n, 3);
                break;
            }
            /* a failed build leaves no reference on any slot */
            for (uint32_t s = 0; s < 16; s++)
                ck_assert_uint_eq(st->slots[s].owner & GWLB__OWNER_REFS_MASK, 0);
            gwlb_balancer_state_free(st);
        }
        ck_assert_int_eq(rc, GWLB_ENOMEM);
        ck_assert_int_eq(ta.live_blocks, 0);
    }
}
END_TEST

/* ---- Math helpers (libm-free) ---------------------------------------------------------- */

START_TEST(test_math_helpers_agree_with_known_values)
{
    ck_assert_double_eq_tol(gwlb__exp(1.0), 2.718281828459045, 1e-15);
    ck_assert_double_eq_tol(gwlb__exp(-0.6931471805599453), 0.5, 1e-16);
    ck_assert_double_eq_tol(gwlb__exp(-20.0), 2.061153622438558e-09, 1e-23);
    ck_assert_double_eq(gwlb__exp(0.0), 1.0);
    ck_assert_double_eq(gwlb__exp(-1000.0), 0.0);
    ck_assert_double_eq_tol(gwlb__log(10.0), 2.302585092994046, 1e-15);
    ck_assert_double_eq_tol(gwlb__log(0.25), -1.3862943611198906, 1e-15);
    ck_assert_double_eq_tol(gwlb__pow(0.25, 0.5), 0.5, 1e-16);
    ck_assert_double_eq_tol(gwlb__pow(2.0, 10.0), 1024.0, 1e-11);
    ck_assert_double_eq_tol(gwlb__pow(0.5, 1.0 / 3.0), 0.7937005259840998, 1e-15);
}
END_TEST

/*
 * A scripted run used to compare two ways of picking: 13 hosts of weights
 * 1..4, up to 5 requests held in flight, varied latencies, a failure
 * release, a host made ineligible then eligible again, and nginx fail
 * timeouts passing. Returns the host sequence in seq[0..n-1].
 */
typedef int (*pick_fn)(gwlb_balancer *b, uint64_t now, gwlb_balancer_result *r);

static int pick_plain(gwlb_balancer *b, uint64_t now, gwlb_balancer_result *r)
{
    return gwlb_balancer_pick(b, now, r);
}

static int pick_general(gwlb_balancer *b, uint64_t now, gwlb_balancer_result *r)
{
    return gwlb_balancer_pick_excluding(b, now, NULL, 0, r); /* never the fast paths */
}

#define SCRIPT_PICKS 2000

static int script_equal_weights; /* 1: every weight 1 instead of 1..4 */

static void scripted_run(int alg, int exclusive, pick_fn pick, int *seq, int *clean_seen)
{
    static const uint32_t w[13] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 2};
    static const uint32_t ones[13] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    gwlb_balancer_state *st = new_state(32);
    gwlb_balancer_host h[13];
    hosts_fill(h, script_equal_weights ? ones : w, 13);
    for (int i = 0; i < 13; i++)
        h[i].fail_timeout_ns = 1 * SEC;
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.seed = 99;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 13, st, 0, &b, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(b, exclusive), GWLB_OK);
    gwlb_balancer_result held[5];
    int nheld = 0;
    *clean_seen = 0;
    for (int i = 0; i < SCRIPT_PICKS; i++) {
        uint64_t now = (uint64_t)i * 7 * MS;
        if (i == 500)
            ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 3, GWLB_HOST_FAILED_ACTIVE, 0),
                             GWLB_OK);
        if (i == 900)
            ck_assert_int_eq(gwlb_balancer_host_flags_update(b, 3, 0, GWLB_HOST_FAILED_ACTIVE),
                             GWLB_OK);
        gwlb_balancer_result r;
        ck_assert_int_eq(pick(b, now, &r), GWLB_OK);
        seq[i] = (int)r.host_index;
        if (b->clean_epoch == b->state->h.flags_epoch + 1 && b->state->h.hazards == 0)
            (*clean_seen)++;
        if (nheld == 5) {
            int outcome = (i == 1200 || i == 1700) ? GWLB_BALANCER_GATEWAY_FAILURE
                                                   : GWLB_BALANCER_SUCCESS;
            ck_assert_int_eq(gwlb_balancer_release(b, &held[0], outcome,
                                                   (int64_t)(1000 + (i % 17) * 3000), now),
                             GWLB_OK);
            memmove(held, held + 1, 4 * sizeof held[0]);
            nheld = 4;
        }
        held[nheld++] = r;
    }
    for (int i = 0; i < nheld; i++)
        ck_assert_int_eq(gwlb_balancer_release(b, &held[i], GWLB_BALANCER_SUCCESS, 5000,
                                               SCRIPT_PICKS * 7 * MS),
                         GWLB_OK);
    for (uint32_t i = 0; i < 13; i++)
        ck_assert_uint_eq(hstats(b, i).in_flight, 0);
    uint64_t failing = 0; /* the hazard word counts exactly the slots with fails != 0 */
    for (uint32_t i = 0; i < 13; i++)
        failing += hstats(b, i).fails != 0;
    ck_assert_uint_eq(b->state->h.hazards, failing);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}

/* Every algorithm's script through the fast and the general pick: the same
 * host at every pick, and the clean path in force for most of the run. */
static void fast_and_general_agree_for_every_algorithm(void)
{
    static int a[SCRIPT_PICKS], g[SCRIPT_PICKS];
    for (int alg = 0; alg <= GWLB_BALANCER_RANDOM_TWO_CHOICES; alg++) {
        int clean_a = 0, clean_g = 0;
        scripted_run(alg, 0, pick_plain, a, &clean_a);
        scripted_run(alg, 0, pick_general, g, &clean_g);
        for (int i = 0; i < SCRIPT_PICKS; i++)
            ck_assert_msg(a[i] == g[i], "algorithm %d pick %d: fast %d, general %d", alg, i,
                          a[i], g[i]);
        ck_assert_msg(clean_a > SCRIPT_PICKS / 2, "algorithm %d: %d clean picks", alg, clean_a);
    }
}

START_TEST(test_fast_paths_decide_exactly_as_the_general_path)
{
    fast_and_general_agree_for_every_algorithm();
}
END_TEST

START_TEST(test_fast_paths_decide_exactly_as_the_general_path_with_equal_weights)
{
    script_equal_weights = 1;
    fast_and_general_agree_for_every_algorithm();
    script_equal_weights = 0;
}
END_TEST

START_TEST(test_wrr_fast_path_follows_the_general_path_across_the_32_bit_wrap)
{
    static const uint32_t w[7] = {3, 1, 4, 1, 5, 9, 2};
    gwlb_balancer_state *s1 = new_state(16), *s2 = new_state(16);
    gwlb_balancer_host h[7];
    hosts_fill(h, w, 7);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
    c.start_mode = GWLB_BALANCER_START_FIXED;
    c.start = UINT32_MAX - 20; /* the position wraps after a few picks */
    gwlb_balancer *a = NULL, *g = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 7, s1, 0, &a, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 7, s2, 0, &g, NULL), GWLB_OK);
    for (int i = 0; i < 200; i++) {
        gwlb_balancer_result ra, rg;
        ck_assert_int_eq(gwlb_balancer_choose(a, 0, &ra), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_pick_excluding(g, 0, NULL, 0, &rg), GWLB_OK);
        ck_assert_uint_eq(ra.host_index, rg.host_index);
        ck_assert_int_eq(gwlb_balancer_release(g, &rg, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
        ck_assert_uint_eq(s1->h.sequence[0].value, s2->h.sequence[0].value);
    }
    ck_assert_uint_eq(a->clean_epoch, s1->h.flags_epoch + 1); /* it was the fast path */
    gwlb_balancer_free(a);
    gwlb_balancer_free(g);
    gwlb_balancer_state_free(s1);
    gwlb_balancer_state_free(s2);
}
END_TEST

/* n hosts "h<i>" with weights from `w` (cycled), on a fresh state */
typedef struct big_fixture {
    gwlb_balancer_state *st;
    gwlb_balancer_host *h;
    char (*ids)[16];
} big_fixture;

static gwlb_balancer *big_build(big_fixture *f, int alg, const uint32_t *w, uint32_t nw,
                                uint32_t n, uint64_t start)
{
    f->h = calloc(n, sizeof *f->h);
    f->ids = calloc(n, sizeof *f->ids);
    ck_assert_ptr_nonnull(f->h);
    ck_assert_ptr_nonnull(f->ids);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(f->ids[i], sizeof f->ids[i], "h%u", (unsigned)i);
        gwlb_balancer_host_init(&f->h[i], f->ids[i]);
        f->h[i].weight = w[i % nw];
    }
    f->st = new_state(2 * n);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.start_mode = GWLB_BALANCER_START_FIXED;
    c.start = start;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, f->h, n, f->st, 0, &b, NULL), GWLB_OK);
    return b;
}

static void big_free(big_fixture *f, gwlb_balancer *b)
{
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(f->st);
    free(f->h);
    free(f->ids);
}

/*
 * The WRR clean path answers most picks from a memo of 32 positions'
 * acceptances (four at a time with SSE2, one by one below 4 hosts): small
 * host counts, larger ones, weight sets where most probes
 * reject (a window without any accept, the probe loop after it), starts
 * just before the 32-bit position wraps — host and cursor as the general
 * path, pick after pick.
 */
START_TEST(test_wrr_window_decides_exactly_as_the_general_path)
{
    static const uint32_t mixed[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4};
    static const uint32_t skewed[] = {1000000, 1, 1, 2, 1, 3, 1, 1, 1, 7, 1, 1, 1};
    static const uint32_t equal[] = {4};
    static const uint32_t counts[] = {1, 2, 3, 4, 5, 7, 9, 10, 33, 100, 1000};
    static const uint64_t starts[] = {12345, UINT32_MAX - 40, UINT32_MAX - 3,
                                      UINT64_C(0xfedcba9876543210)};
    struct {
        const uint32_t *w;
        uint32_t nw;
    } sets[] = {{mixed, 20}, {skewed, 13}, {equal, 1}};
    uint64_t rs = 7;
    for (size_t si = 0; si < 3; si++) {
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
            for (size_t st = 0; st < sizeof starts / sizeof starts[0]; st++) {
                uint32_t n = counts[ci];
                big_fixture fa, fg;
                gwlb_balancer *a = big_build(&fa, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, sets[si].w,
                                             sets[si].nw, n, starts[st]);
                gwlb_balancer *g = big_build(&fg, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, sets[si].w,
                                             sets[si].nw, n, starts[st]);
                int picks = n >= 100 ? 1500 : 300;
                for (int i = 0; i < picks; i++) {
                    gwlb_balancer_result ra, rg;
                    /* choose and pick share the path: alternate them at random */
                    rs = rs * 6364136223846793005u + 1442695040888963407u;
                    if (rs >> 63) {
                        ck_assert_int_eq(gwlb_balancer_choose(a, 0, &ra), GWLB_OK);
                    } else {
                        ck_assert_int_eq(gwlb_balancer_pick(a, 0, &ra), GWLB_OK);
                        ck_assert_int_eq(
                            gwlb_balancer_release(a, &ra, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
                    }
                    ck_assert_int_eq(gwlb_balancer_pick_excluding(g, 0, NULL, 0, &rg), GWLB_OK);
                    ck_assert_msg(ra.host_index == rg.host_index,
                                  "set %zu, %u hosts, start %zu, pick %d: window %u, general %u",
                                  si, (unsigned)n, st, i, (unsigned)ra.host_index,
                                  (unsigned)rg.host_index);
                    ck_assert_int_eq(gwlb_balancer_release(g, &rg, GWLB_BALANCER_SUCCESS, 0, 0),
                                     GWLB_OK);
                    ck_assert_uint_eq(fa.st->h.sequence[0].value, fg.st->h.sequence[0].value);
                }
                ck_assert_uint_eq(a->clean_epoch, fa.st->h.flags_epoch + 1);
                big_free(&fa, a);
                big_free(&fg, g);
            }
        }
    }
}
END_TEST

/* Two balancers on one state (two processes, say) each keep their own
 * window; picks interleaved at random on the shared cursor decide as one
 * general-path balancer. */
START_TEST(test_wrr_windows_of_two_balancers_on_one_state_stay_exact)
{
    static const uint32_t w[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9};
    big_fixture fa, fg;
    gwlb_balancer *a = big_build(&fa, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, w, 15, 300, 99);
    gwlb_balancer *g = big_build(&fg, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, w, 15, 300, 99);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
    c.start_mode = GWLB_BALANCER_START_FIXED;
    c.start = 99;
    gwlb_balancer *a2 = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, fa.h, 300, fa.st, 0, &a2, NULL), GWLB_OK);
    uint64_t rs = 3;
    for (int i = 0; i < 5000; i++) {
        gwlb_balancer_result ra, rg;
        rs = rs * 6364136223846793005u + 1442695040888963407u;
        ck_assert_int_eq(gwlb_balancer_choose((rs >> 62) == 0 ? a2 : a, 0, &ra), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_pick_excluding(g, 0, NULL, 0, &rg), GWLB_OK);
        ck_assert_uint_eq(ra.host_index, rg.host_index);
        ck_assert_int_eq(gwlb_balancer_release(g, &rg, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    }
    gwlb_balancer_free(a2);
    big_free(&fa, a);
    big_free(&fg, g);
}
END_TEST

/*
 * Peak EWMA's clean path (its own pick, the sample in one pass) against
 * the general path: 20 and 300 hosts, mixed weights and all 1, requests
 * held and released out of order with latencies from a few values (equal
 * costs: near-ties that need the exp),
 * the clock stepping by nanoseconds to seconds — the same hosts, and the
 * same cost bits on every host at the end, in both modes.
 */
/* Two identical peak EWMA balancers for a test mode: bit 0 exclusive
 * (both), bit 1 300 hosts (above EWMA_PREFETCH_HOSTS) else 20, bit 2 all
 * weights 1 (the pick that leaves the weights out) else 1,1,2,1,3. */
static void ewma_pair_build(int mode, big_fixture *fa, gwlb_balancer **a, big_fixture *fg,
                            gwlb_balancer **g)
{
    static const uint32_t w[] = {1, 1, 2, 1, 3}, ones[] = {1};
    int excl = mode & 1, unit = (mode >> 2) & 1;
    uint32_t nh = (mode >> 1) & 1 ? 300 : 20;
    *a = big_build(fa, GWLB_BALANCER_PEAK_EWMA, unit ? ones : w, unit ? 1 : 5, nh, 0);
    *g = big_build(fg, GWLB_BALANCER_PEAK_EWMA, unit ? ones : w, unit ? 1 : 5, nh, 0);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(*a, excl), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(*g, excl), GWLB_OK);
}

/*
 * Modes 8..15: the clock starts 500 s below 2^53 (the clean pick compares
 * stamps below it, ages above it) and steps back by up to 5 us now and
 * then (slots stamped after `now`: age 0).
 */
START_TEST(test_peak_ewma_fast_path_decides_exactly_as_the_general_path)
{
    static const uint64_t steps[] = {1, 3, 800, 20000, 1000000, 2 * SEC};
    for (int mode = 0; mode < 16; mode++) {
        /* 300 hosts: above EWMA_PREFETCH_HOSTS (the pick that prefetches);
         * all weights 1: the pick that leaves the weights out */
        int unit = (mode >> 2) & 1, skew = mode >> 3;
        uint32_t nh = (mode >> 1) & 1 ? 300 : 20;
        big_fixture fa, fg;
        gwlb_balancer *a, *g;
        ewma_pair_build(mode, &fa, &a, &fg, &g);
        ck_assert_uint_eq(a->fast_kind, unit ? GWLB__FAST_EWMA_UNIT : GWLB__FAST_EWMA);
        gwlb_balancer_result ha[8], hg[8];
        int n = 0;
        uint64_t now = skew ? (UINT64_C(1) << 53) - 500 * SEC : 0, rs = 11;
        for (int i = 0; i < 6000; i++) {
            rs = rs * 6364136223846793005u + 1442695040888963407u;
            now += steps[(rs >> 33) % 6];
            if (skew && (rs >> 28) % 8 == 0)
                now -= 1 + (rs >> 12) % 5000;
            ck_assert_int_eq(gwlb_balancer_pick(a, now, &ha[n]), GWLB_OK);
            ck_assert_int_eq(gwlb_balancer_pick_excluding(g, now, NULL, 0, &hg[n]), GWLB_OK);
            ck_assert_msg(ha[n].host_index == hg[n].host_index, "mode %d pick %d: fast %u, general %u",
                          mode, i, (unsigned)ha[n].host_index, (unsigned)hg[n].host_index);
            n++;
            if (n == 8 || (rs >> 40) % 3 == 0) {
                int j = (int)((rs >> 20) % (uint64_t)n);
                int64_t lat = (int64_t)((1 + (rs >> 50) % 4) * 1000 * ((rs >> 45) % 2 ? 1 : 1000));
                ck_assert_int_eq(gwlb_balancer_release(a, &ha[j], GWLB_BALANCER_SUCCESS, lat, now),
                                 GWLB_OK);
                ck_assert_int_eq(gwlb_balancer_release(g, &hg[j], GWLB_BALANCER_SUCCESS, lat, now),
                                 GWLB_OK);
                ha[j] = ha[n - 1];
                hg[j] = hg[n - 1];
                n--;
            }
        }
        for (uint32_t i = 0; i < nh; i++) {
            double ca = hstats(a, i).ewma_cost_ns, cg = hstats(g, i).ewma_cost_ns;
            ck_assert_mem_eq(&ca, &cg, sizeof ca);
        }
        ck_assert_uint_eq(a->clean_epoch, fa.st->h.flags_epoch + 1);
        for (int j = 0; j < n; j++) {
            ck_assert_int_eq(gwlb_balancer_release(a, &ha[j], GWLB_BALANCER_SUCCESS, 5, now), GWLB_OK);
            ck_assert_int_eq(gwlb_balancer_release(g, &hg[j], GWLB_BALANCER_SUCCESS, 5, now), GWLB_OK);
        }
        big_free(&fa, a);
        big_free(&fg, g);
    }
}
END_TEST

/* Two-host peak EWMA balancers a and g (tau given) on states of their
 * own, with the same samples: host i released at stamp_at[i] with
 * latency lat[i]. */
static void ewma_pair(gwlb_balancer_state **st, gwlb_balancer **b, uint64_t tau,
                      const uint64_t *stamp_at, const int64_t *lat)
{
    *st = new_state(8);
    gwlb_balancer_host h[2];
    hosts_fill(h, NULL, 2);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_PEAK_EWMA);
    c.ewma_decay_ns = tau;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 2, *st, 0, b, NULL), GWLB_OK);
    for (uint32_t i = 0; i < 2; i++) {
        gwlb_balancer_result r;
        ck_assert_int_eq(gwlb_balancer_acquire_host(*b, i, stamp_at[i], &r), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_release(*b, &r, GWLB_BALANCER_SUCCESS, lat[i], stamp_at[i]),
                         GWLB_OK);
    }
}

/* Picks at `now` on a (the clean pick) and g (the general pick), released
 * without a latency: both choose `expect` every time, in both modes. */
static void ewma_pair_expect(uint64_t tau, const uint64_t *stamp_at, const int64_t *lat,
                             uint64_t now, uint32_t expect)
{
    for (int excl = 0; excl < 2; excl++) {
        gwlb_balancer_state *sa, *sg;
        gwlb_balancer *a, *g;
        ewma_pair(&sa, &a, tau, stamp_at, lat);
        ewma_pair(&sg, &g, tau, stamp_at, lat);
        ck_assert_int_eq(gwlb_balancer_set_exclusive(a, excl), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_set_exclusive(g, excl), GWLB_OK);
        for (int i = 0; i < 16; i++) {
            gwlb_balancer_result ra, rg;
            ck_assert_int_eq(gwlb_balancer_pick(a, now, &ra), GWLB_OK);
            ck_assert_int_eq(gwlb_balancer_pick_excluding(g, now, NULL, 0, &rg), GWLB_OK);
            ck_assert_uint_eq(ra.host_index, expect);
            ck_assert_uint_eq(rg.host_index, expect);
            ck_assert_int_eq(gwlb_balancer_release(a, &ra, GWLB_BALANCER_SUCCESS,
                                                   GWLB_BALANCER_NO_LATENCY, now),
                             GWLB_OK);
            ck_assert_int_eq(gwlb_balancer_release(g, &rg, GWLB_BALANCER_SUCCESS,
                                                   GWLB_BALANCER_NO_LATENCY, now),
                             GWLB_OK);
        }
        gwlb_balancer_free(a);
        gwlb_balancer_free(g);
        gwlb_balancer_state_free(sa);
        gwlb_balancer_state_free(sg);
    }
}

/* A host sampled after `now` has age 0 (tau 1 us): host 0 (1 us, sampled
 * 501 ns after now) against host 1 (1.8 us, sampled 499 ns before:
 * 1.8 us * e^-0.499 = 1.09 us). With its age counted as -501 ns host 1
 * would be the lighter one. */
START_TEST(test_peak_ewma_host_sampled_after_now_has_age_zero_in_every_path)
{
    static const uint64_t at[2] = {10000, 9000};
    static const int64_t lat[2] = {1000, 1800};
    ewma_pair_expect(1000, at, lat, 9499, 0);
}
END_TEST

/* Samples 2^63 ns apart (a clock far above 2^53): host 0 sampled at 0 has
 * decayed to nothing against host 1 sampled just now. */
START_TEST(test_peak_ewma_compares_samples_2_pow_63_ns_apart)
{
    static const uint64_t at[2] = {0, (UINT64_C(1) << 63) + 10};
    static const int64_t lat[2] = {5000000, 1000};
    ewma_pair_expect(10 * SEC, at, lat, (UINT64_C(1) << 63) + 20, 0);
}
END_TEST

/*
 * The clean peak-EWMA pick draws the output for the next state ahead: it
 * must give the generator's exact sequence when other draws (general
 * picks), choose and reseeds come in between. Balancer a mixes clean
 * picks, choose, general picks and reseeds; balancer g does the same
 * steps through the general path only (choose as a general pick released
 * at once without a latency: the same state afterwards). Both modes, 20
 * and 300 hosts, weights 1 and mixed.
 */
START_TEST(test_peak_ewma_draw_ahead_follows_the_generator_across_other_draws)
{
    for (int mode = 0; mode < 8; mode++) {
        big_fixture fa, fg;
        gwlb_balancer *a, *g;
        ewma_pair_build(mode, &fa, &a, &fg, &g);
        uint64_t now = 1000, rs = 5;
        for (int i = 0; i < 4000; i++) {
            rs = rs * 6364136223846793005u + 1442695040888963407u;
            now += 1 + (rs >> 40) % 3000;
            int op = (int)((rs >> 33) % 16);
            if (op == 0) { /* reseed both */
                ck_assert_int_eq(gwlb_balancer_reseed(a, rs >> 20), GWLB_OK);
                ck_assert_int_eq(gwlb_balancer_reseed(g, rs >> 20), GWLB_OK);
                continue;
            }
            gwlb_balancer_result ra, rg;
            if (op <= 2) { /* choose: nothing counted */
                ck_assert_int_eq(gwlb_balancer_choose(a, now, &ra), GWLB_OK);
                ck_assert_int_eq(gwlb_balancer_pick_excluding(g, now, NULL, 0, &rg), GWLB_OK);
                ck_assert_int_eq(gwlb_balancer_release(g, &rg, GWLB_BALANCER_SUCCESS,
                                                       GWLB_BALANCER_NO_LATENCY, now),
                                 GWLB_OK);
                ck_assert_uint_eq(ra.host_index, rg.host_index);
                continue;
            }
            if (op <= 5) /* a general pick on a too: a draw the clean pick did not make */
                ck_assert_int_eq(gwlb_balancer_pick_excluding(a, now, NULL, 0, &ra), GWLB_OK);
            else
                ck_assert_int_eq(gwlb_balancer_pick(a, now, &ra), GWLB_OK);
            ck_assert_int_eq(gwlb_balancer_pick_excluding(g, now, NULL, 0, &rg), GWLB_OK);
            ck_assert_msg(ra.host_index == rg.host_index, "mode %d step %d: a %u, g %u", mode, i,
                          (unsigned)ra.host_index, (unsigned)rg.host_index);
            int64_t lat = (int64_t)(1000 + (rs >> 50) * 7);
            ck_assert_int_eq(gwlb_balancer_release(a, &ra, GWLB_BALANCER_SUCCESS, lat, now),
                             GWLB_OK);
            ck_assert_int_eq(gwlb_balancer_release(g, &rg, GWLB_BALANCER_SUCCESS, lat, now),
                             GWLB_OK);
        }
        big_free(&fa, a);
        big_free(&fg, g);
    }
}
END_TEST

/*
 * A rebuild that keeps every identity at its index shares the identity
 * index with its predecessor (reference counted): lookups work on both,
 * and after either is freed first; with another allocator it is copied.
 * Every block is freed, with its size.
 */
START_TEST(test_rebuild_shares_the_identity_index_and_frees_it_once)
{
    for (int order = 0; order < 3; order++) {
        test_alloc ta, tb;
        test_alloc_init(&ta, 0);
        test_alloc_init(&tb, 0);
        gwlb_balancer_state *st = new_state(16);
        gwlb_balancer_host h[6];
        hosts_fill(h, NULL, 6);
        gwlb_balancer_config c;
        gwlb_balancer_config_init(&c, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
        c.allocator = &ta.allocator;
        gwlb_balancer *a = NULL, *a2 = NULL;
        ck_assert_int_eq(gwlb_balancer_build(&c, h, 6, st, 0, &a, NULL), GWLB_OK);
        long blocks = ta.live_blocks;
        h[2].weight = 5;
        if (order == 2)
            c.allocator = &tb.allocator; /* another allocator: a copy */
        ck_assert_int_eq(gwlb_balancer_rebuild(a, &c, h, 6, 1, &a2, NULL), GWLB_OK);
        if (order < 2)
            ck_assert_int_eq(ta.live_blocks, 2 * blocks - 1); /* all but the index */
        else
            ck_assert_int_eq(tb.live_blocks, blocks);
        uint32_t idx = 99;
        gwlb_balancer *first = order == 0 ? a : a2, *second = order == 0 ? a2 : a;
        gwlb_balancer_free(first);
        ck_assert_int_eq(gwlb_balancer_find_host(second, names[4], 0, &idx), GWLB_OK);
        ck_assert_uint_eq(idx, 4);
        ck_assert_int_eq(gwlb_balancer_find_host(second, "10.9.9.9:80", 0, &idx), GWLB_ENOENT);
        gwlb_balancer_free(second);
        ck_assert_int_eq(ta.live_blocks, 0);
        ck_assert_int_eq(tb.live_blocks, 0);
        ck_assert_int_eq(ta.size_mismatches + tb.size_mismatches, 0);
        gwlb_balancer_state_free(st);
    }
}
END_TEST

START_TEST(test_exclusive_mode_makes_the_same_decisions)
{
    static int a[SCRIPT_PICKS], e[SCRIPT_PICKS];
    for (int alg = 0; alg <= GWLB_BALANCER_RANDOM_TWO_CHOICES; alg++) {
        int ca = 0, ce = 0;
        scripted_run(alg, 0, pick_plain, a, &ca);
        scripted_run(alg, 1, pick_plain, e, &ce);
        for (int i = 0; i < SCRIPT_PICKS; i++)
            ck_assert_msg(a[i] == e[i], "algorithm %d pick %d: default %d, exclusive %d", alg,
                          i, a[i], e[i]);
        ck_assert_int_eq(ca, ce);
    }
}
END_TEST

START_TEST(test_exclusive_mode_is_set_read_and_validated)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer *b = build_w(st, GWLB_BALANCER_ROUND_ROBIN, NULL, 2);
    ck_assert_int_eq(gwlb_balancer_exclusive(b), 0);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(b, 1), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_exclusive(b), 1);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(b, 2), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(NULL, 1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_balancer_exclusive(b), 1);
    ck_assert_int_eq(gwlb_balancer_exclusive(NULL), 0);
    /* release of something not in flight is still refused in exclusive mode */
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_pick(b, 0, &r), GWLB_OK);
    gwlb_balancer_result copy = r;
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &copy, GWLB_BALANCER_SUCCESS, 0, 0), GWLB_ESTATE);
    ck_assert_uint_eq(hstats(b, r.host_index).in_flight, 0);
    ck_assert_int_eq(gwlb_balancer_set_exclusive(b, 0), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_exclusive(b), 0);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_hazard_word_counts_failing_and_limited_slots_exactly)
{
    gwlb_balancer_state *st = new_state(8);
    gwlb_balancer_host h[2];
    hosts_fill(h, NULL, 2);
    h[0].max_fails = 2;
    gwlb_balancer *b = build(st, GWLB_BALANCER_ROUND_ROBIN, h, 2);
    ck_assert_uint_eq(st->h.hazards, 0);
    gwlb_balancer_result r;
    /* two failures of host 0: one failing slot */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_FAILURE, 0, 0), GWLB_OK);
        ck_assert_uint_eq(hstats(b, 0).fails, (uint32_t)i + 1);
        ck_assert_uint_eq(st->h.hazards, 1);
    }
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, 0, &r), GWLB_ENOHOST); /* failed */
    /* after fail_timeout host 0 gets its trial; its success clears fails */
    uint64_t later = 11 * SEC;
    ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, later, &r), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 0, later), GWLB_OK);
    ck_assert_uint_eq(hstats(b, 0).fails, 0);
    ck_assert_uint_eq(st->h.hazards, 0);
    /* a max in-flight limit counts in the high half until a build removes it */
    h[1].max_inflight = 3;
    gwlb_balancer *b2 = build(st, GWLB_BALANCER_ROUND_ROBIN, h, 2);
    ck_assert_uint_eq(st->h.hazards, UINT64_C(1) << 32);
    h[1].max_inflight = 0;
    gwlb_balancer *b3 = build(st, GWLB_BALANCER_ROUND_ROBIN, h, 2);
    ck_assert_uint_eq(st->h.hazards, 0);
    gwlb_balancer_free(b);
    gwlb_balancer_free(b2);
    gwlb_balancer_free(b3);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_reseed_draws_as_a_balancer_built_with_that_seed)
{
    static const uint32_t w[5] = {1, 2, 3, 4, 5};
    gwlb_balancer_state *s1 = new_state(8), *s2 = new_state(8);
    gwlb_balancer_host h[5];
    hosts_fill(h, w, 5);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, GWLB_BALANCER_RANDOM);
    c.seed = 1;
    gwlb_balancer *a = NULL, *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 5, s1, 0, &a, NULL), GWLB_OK);
    c.seed = 2;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, 5, s2, 0, &b, NULL), GWLB_OK);
    char sa[65], sb[65];
    sequence(a, 0, sa, 64);
    sequence(b, 0, sb, 64);
    ck_assert_str_ne(sa, sb);
    ck_assert_int_eq(gwlb_balancer_reseed(a, 7), GWLB_OK);
    ck_assert_int_eq(gwlb_balancer_reseed(b, 7), GWLB_OK);
    sequence(a, 0, sa, 64);
    sequence(b, 0, sb, 64);
    ck_assert_str_eq(sa, sb);
    ck_assert_int_eq(gwlb_balancer_reseed(NULL, 7), GWLB_EINVAL);
    gwlb_balancer_free(a);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(s1);
    gwlb_balancer_state_free(s2);
}
END_TEST

static Suite *balancer_suite(void)
{
    Suite *s = suite_create("balancer");
    TCase *t = tcase_create("nginx");
    tcase_add_test(t, test_swrr_matches_nginx_sequence_5_1_1);
    tcase_add_test(t, test_swrr_failure_reduces_effective_weight_then_recovers_by_one_per_pick);
    tcase_add_test(t, test_swrr_effective_weight_floors_at_zero);
    tcase_add_test(t, test_nginx_failed_host_is_skipped_for_fail_timeout_then_one_trial);
    tcase_add_test(t, test_nginx_single_server_is_never_marked_down);
    tcase_add_test(t, test_swrr_pick_excluding_skips_tried_hosts);
    tcase_add_test(t, test_nginx_rr_fallback_helper_takes_host_like_nginx);
    tcase_add_test(t, test_least_conn_prefers_fewest_and_breaks_ties_with_swrr);
    tcase_add_test(t, test_least_conn_compares_conns_per_weight);
    tcase_add_test(t, test_nginx_backup_used_when_primaries_failed_by_max_fails);
    suite_add_tcase(s, t);
    t = tcase_create("algorithms");
    tcase_add_test(t, test_round_robin_cycles_in_order_from_fixed_start);
    tcase_add_test(t, test_round_robin_start_offsets_differ_by_seed);
    tcase_add_test(t, test_choose_picks_without_counting_in_flight);
    tcase_add_test(t, test_weighted_round_robin_counts_follow_weights_per_cycle);
    tcase_add_test(t, test_weighted_round_robin_with_equal_weights_is_round_robin);
    tcase_add_test(t, test_p2c_two_hosts_picks_the_one_with_fewer_in_flight);
    tcase_add_test(t, test_least_request_full_scan_uses_weight_over_active_plus_one);
    tcase_add_test(t, test_peak_ewma_cost_jumps_up_and_decays_exactly);
    tcase_add_test(t, test_peak_ewma_prefers_the_faster_host);
    tcase_add_test(t, test_peak_ewma_polynomial_range_is_exact_in_dt);
    tcase_add_test(t, test_peak_ewma_decay_follows_the_formula_for_short_and_long_gaps);
    tcase_add_test(t, test_peak_ewma_time_going_backwards_does_not_decay_or_underflow);
    tcase_add_test(t, test_slow_start_factor_matches_envoy_values);
    tcase_add_test(t, test_slow_start_scales_a_new_hosts_share);
    tcase_add_test(t, test_recovered_host_starts_slow_start_at_next_pick);
    tcase_add_test(t, test_math_helpers_agree_with_known_values);
    suite_add_tcase(s, t);
    t = tcase_create("fast_paths");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_fast_paths_decide_exactly_as_the_general_path);
    tcase_add_test(t, test_wrr_fast_path_follows_the_general_path_across_the_32_bit_wrap);
    tcase_add_test(t, test_wrr_window_decides_exactly_as_the_general_path);
    tcase_add_test(t, test_wrr_windows_of_two_balancers_on_one_state_stay_exact);
    tcase_add_test(t, test_peak_ewma_fast_path_decides_exactly_as_the_general_path);
    tcase_add_test(t, test_peak_ewma_draw_ahead_follows_the_generator_across_other_draws);
    tcase_add_test(t, test_peak_ewma_host_sampled_after_now_has_age_zero_in_every_path);
    tcase_add_test(t, test_peak_ewma_compares_samples_2_pow_63_ns_apart);
    tcase_add_test(t, test_rebuild_shares_the_identity_index_and_frees_it_once);
    tcase_add_test(t, test_exclusive_mode_makes_the_same_decisions);
    tcase_add_test(t, test_fast_paths_decide_exactly_as_the_general_path_with_equal_weights);
    tcase_add_test(t, test_exclusive_mode_is_set_read_and_validated);
    tcase_add_test(t, test_hazard_word_counts_failing_and_limited_slots_exactly);
    tcase_add_test(t, test_reseed_draws_as_a_balancer_built_with_that_seed);
    suite_add_tcase(s, t);
    t = tcase_create("host_table");
    tcase_add_test(t, test_rebuild_keeps_state_of_remaining_hosts_and_releases_removed);
    tcase_add_test(t, test_rebuild_from_prev_equals_a_full_build_and_moves_references);
    tcase_add_test(t, test_rebuild_with_changed_weight_resets_effective_weight);
    tcase_add_test(t, test_state_slots_are_reused_after_hosts_leave);
    tcase_add_test(t, test_state_attach_validates_region);
    tcase_add_test(t, test_flags_make_hosts_ineligible_until_cleared);
    tcase_add_test(t, test_max_inflight_skips_full_hosts_and_reports_no_host);
    tcase_add_test(t, test_backup_hosts_serve_only_when_all_primaries_are_out);
    tcase_add_test(t, test_priority_overprovisioning_spills_30_percent_to_level_1);
    tcase_add_test(t, test_panic_below_threshold_spreads_over_all_hosts_of_the_level);
    tcase_add_test(t, test_panic_threshold_zero_disables_panic);
    tcase_add_test(t, test_degraded_hosts_take_only_the_remainder);
    suite_add_tcase(s, t);
    t = tcase_create("bad_input");
    tcase_add_test(t, test_release_errors_leave_state_unchanged);
    tcase_add_test(t, test_null_arguments_are_einval);
    tcase_add_test(t, test_bad_host_input_gets_specific_errors);
    tcase_add_test(t, test_bad_config_gets_specific_errors);
    tcase_add_test(t, test_every_allocation_failure_returns_enomem_and_leaks_nothing);
    tcase_add_test(t, test_rebuild_allocation_failure_returns_enomem_and_hands_nothing_over);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return test_run_suite(balancer_suite());
}

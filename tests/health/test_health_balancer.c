/*
 * Health tracking driving the balancer: flags applied to the balancer's
 * hosts, drain letting in-flight requests finish, panic visible on both
 * sides, and the simulation of the issue: 20 hosts, 2 failing 50% of their
 * requests, traffic through P2C least request + outlier detection.
 * Time is driven by hand (1 ms ticks); nothing sleeps.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/balancer.h"
#include "gwlb/health.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define MS GWLB_NS_PER_MS

struct fixture {
    gwlb_balancer_state *state;
    gwlb_balancer *bal;
    gwlb_health *h;
};

static void setup(struct fixture *f, uint32_t n, gwlb_balancer_algorithm alg,
                  const gwlb_health_config *hc)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(gwlb_balancer_state_new(2 * n, NULL, &f->state), GWLB_OK);
    gwlb_balancer_host hosts[64];
    char names[64][32];
    ck_assert_uint_le(n, 64);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "10.0.0.%u:80", i + 1);
        gwlb_balancer_host_init(&hosts[i], names[i]);
        hosts[i].max_fails = 0; /* health decides, not nginx's passive marking */
    }
    gwlb_balancer_config bc;
    gwlb_balancer_config_init(&bc, alg);
    bc.seed = 2026;
    gwlb_error_detail d;
    int rc = gwlb_balancer_build(&bc, hosts, n, f->state, 0, &f->bal, &d);
    ck_assert_msg(rc == GWLB_OK, "build: %s %s", gwlb_err_name(rc), d.message);
    ck_assert_int_eq(gwlb_health_create(hc, n, 0, NULL, 0, 0, NULL, &f->h, NULL), GWLB_OK);
}

static void teardown(struct fixture *f)
{
    gwlb_health_free(f->h);
    gwlb_balancer_free(f->bal);
    gwlb_balancer_state_free(f->state);
}

START_TEST(test_apply_copies_every_reason_and_clears_what_health_cleared)
{
    gwlb_health_config hc;
    gwlb_health_config_init(&hc);
    hc.max_ejection_percent = 100;
    hc.base_ejection_time_ns = 10 * SEC;
    struct fixture f;
    setup(&f, 4, GWLB_BALANCER_ROUND_ROBIN, &hc);
    for (int i = 0; i < 5; i++)
        gwlb_health_report_status(f.h, 1, 500, SEC);
    gwlb_health_admin_update(f.h, 2, GWLB_HOST_DEGRADED, 0, SEC);
    uint32_t changed = 99, fl;
    ck_assert_int_eq(gwlb_health_apply_to_balancer(f.h, f.bal, &changed), GWLB_OK);
    ck_assert_uint_eq(changed, 2);
    gwlb_balancer_host_flags(f.bal, 1, &fl);
    ck_assert_uint_eq(fl, GWLB_HOST_EJECTED);
    gwlb_balancer_host_flags(f.bal, 2, &fl);
    ck_assert_uint_eq(fl, GWLB_HOST_DEGRADED);
    ck_assert_int_eq(gwlb_health_apply_to_balancer(f.h, f.bal, &changed), GWLB_OK);
    ck_assert_uint_eq(changed, 0); /* nothing rewritten */
    ck_assert_int_eq(gwlb_health_outlier_run(f.h, 11 * SEC, NULL), GWLB_OK);
    ck_assert_int_eq(gwlb_health_apply_host(f.h, f.bal, 1), GWLB_OK);
    gwlb_balancer_host_flags(f.bal, 1, &fl);
    ck_assert_uint_eq(fl, 0);
    ck_assert_int_eq(gwlb_health_apply_host(f.h, f.bal, 4), GWLB_EUNKNOWN);
    ck_assert_int_eq(gwlb_health_apply_to_balancer(NULL, f.bal, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_health_apply_to_balancer(f.h, NULL, NULL), GWLB_EINVAL);
    teardown(&f);
}
END_TEST

START_TEST(test_drain_stops_new_picks_and_lets_in_flight_finish)
{
    gwlb_health_config hc;
    gwlb_health_config_init(&hc);
    struct fixture f;
    setup(&f, 4, GWLB_BALANCER_ROUND_ROBIN, &hc);
    gwlb_balancer_result held;
    ck_assert_int_eq(gwlb_balancer_acquire_host(f.bal, 3, 0, &held), GWLB_OK);
    gwlb_health_admin_update(f.h, 3, GWLB_HOST_DRAINING, 0, SEC);
    ck_assert_int_eq(gwlb_health_apply_host(f.h, f.bal, 3), GWLB_OK);
    gwlb_balancer_result r;
    ck_assert_int_eq(gwlb_balancer_acquire_host(f.bal, 3, SEC, &r), GWLB_ENOHOST);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(f.bal, SEC, &r), GWLB_OK);
        ck_assert_uint_ne(r.host_index, 3);
        ck_assert_int_eq(gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 1000, SEC),
                         GWLB_OK);
    }
    gwlb_balancer_host_stats hs;
    gwlb_balancer_host_stats_get(f.bal, 3, &hs);
    ck_assert_uint_eq(hs.in_flight, 1); /* still running */
    ck_assert_int_eq(gwlb_balancer_release(f.bal, &held, GWLB_BALANCER_SUCCESS, 5000, 2 * SEC),
                     GWLB_OK);
    gwlb_health_report_status(f.h, 3, 200, 2 * SEC); /* its outcome still counts */
    gwlb_balancer_host_stats_get(f.bal, 3, &hs);
    ck_assert_uint_eq(hs.in_flight, 0);
    gwlb_health_host_info info;
    gwlb_health_host_get(f.h, 3, &info);
    ck_assert_uint_eq(info.interval_requests, 1);
    teardown(&f);
}
END_TEST

START_TEST(test_panic_is_visible_in_both_stats_and_spreads_over_all_hosts)
{
    gwlb_health_config hc;
    gwlb_health_config_init(&hc);
    struct fixture f;
    setup(&f, 10, GWLB_BALANCER_ROUND_ROBIN, &hc);
    for (uint32_t i = 0; i < 7; i++) /* 3 of 10 left: 30% < 50% */
        gwlb_health_admin_update(f.h, i, GWLB_HOST_FAILED_PASSIVE, 0, SEC);
    gwlb_health_apply_to_balancer(f.h, f.bal, NULL);
    gwlb_health_stats hs;
    gwlb_health_stats_get(f.h, &hs);
    ck_assert_uint_eq(hs.panic, 1);
    int seen[10] = {0};
    gwlb_balancer_result r;
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(f.bal, SEC, &r), GWLB_OK);
        seen[r.host_index]++;
        gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 1000, SEC);
    }
    gwlb_balancer_stats bs;
    gwlb_balancer_stats_get(f.bal, SEC, &bs);
    ck_assert_uint_eq(bs.panic_picks, 1000);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(seen[i], 100); /* round robin over all ten */
    /* still in panic at 4 of 10; two hosts back (5 of 10 = 50%): out of panic,
     * only eligible hosts picked */
    gwlb_health_admin_update(f.h, 6, 0, GWLB_HOST_FAILED_PASSIVE, 2 * SEC);
    gwlb_health_apply_to_balancer(f.h, f.bal, NULL);
    gwlb_health_stats_get(f.h, &hs);
    ck_assert_uint_eq(hs.panic, 1);
    ck_assert_int_eq(gwlb_balancer_pick(f.bal, 2 * SEC, &r), GWLB_OK);
    gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 1000, 2 * SEC);
    gwlb_balancer_stats_get(f.bal, 2 * SEC, &bs);
    ck_assert_uint_eq(bs.panic_picks, 1001);
    gwlb_health_admin_update(f.h, 5, 0, GWLB_HOST_FAILED_PASSIVE, 2 * SEC);
    gwlb_health_apply_to_balancer(f.h, f.bal, NULL);
    gwlb_health_stats_get(f.h, &hs);
    ck_assert_uint_eq(hs.panic, 0);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(f.bal, 2 * SEC, &r), GWLB_OK);
        ck_assert_uint_ge(r.host_index, 5);
        gwlb_balancer_release(f.bal, &r, GWLB_BALANCER_SUCCESS, 1000, 2 * SEC);
    }
    gwlb_balancer_stats_get(f.bal, 2 * SEC, &bs);
    ck_assert_uint_eq(bs.panic_picks, 1001);
    teardown(&f);
}
END_TEST

/* ---- the simulation ----------------------------------------------------------- */

#define SIM_HOSTS 20
#define SIM_SECONDS 120
#define PENDING 256

struct pending {
    gwlb_balancer_result pick;
    uint64_t done_at;
    int fail;
};

static void apply_on_event(const gwlb_health_event *ev, void *user)
{
    struct fixture *f = user;
    gwlb_health_apply_host(f->h, f->bal, ev->host);
}

static void simulate(const gwlb_health_config *hcfg, const char *label)
{
    gwlb_health_config hc = *hcfg;
    struct fixture f;
    setup(&f, SIM_HOSTS, GWLB_BALANCER_LEAST_REQUEST, &hc);
    gwlb_health_set_callback(f.h, apply_on_event, &f);
    static struct pending q[PENDING];
    uint32_t qn = 0;
    uint64_t rng = 99;
    uint64_t detected_at = UINT64_MAX, first_eject[2] = {UINT64_MAX, UINT64_MAX};
    uint64_t total_after = 0, failing_after = 0, total = 0, failing_total = 0;
    uint64_t per_host[SIM_HOSTS] = {0};

    for (uint64_t t = 0; t < (uint64_t)SIM_SECONDS * 1000; t++) {
        uint64_t now = t * MS;
        /* finish requests that are due */
        for (uint32_t i = 0; i < qn;) {
            if (q[i].done_at <= now) {
                int out = q[i].fail ? GWLB_BALANCER_FAILURE : GWLB_BALANCER_SUCCESS;
                ck_assert_int_eq(gwlb_balancer_release(f.bal, &q[i].pick, out,
                                                       (int64_t)(q[i].done_at - now), now),
                                 GWLB_OK);
                gwlb_health_report_status(f.h, q[i].pick.host_index, q[i].fail ? 500 : 200, now);
                q[i] = q[--qn];
            } else {
                i++;
            }
        }
        if (t % 10000 == 0 && t > 0) {
            ck_assert_int_eq(gwlb_health_outlier_run(f.h, now, NULL), GWLB_OK);
            gwlb_health_apply_to_balancer(f.h, f.bal, NULL);
        }
        for (uint32_t k = 0; k < 2; k++) {
            uint32_t fl;
            gwlb_health_host_flags(f.h, k, &fl);
            if ((fl & GWLB_HOST_EJECTED) && first_eject[k] == UINT64_MAX)
                first_eject[k] = now;
        }
        if (detected_at == UINT64_MAX && first_eject[0] != UINT64_MAX &&
            first_eject[1] != UINT64_MAX)
            detected_at = now;
        /* one new request per ms (1000 rps); hosts 0 and 1 fail half of theirs,
         * fast (5 ms), the others succeed in 20 ms */
        gwlb_balancer_result p;
        ck_assert_int_eq(gwlb_balancer_pick(f.bal, now, &p), GWLB_OK);
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int failing = p.host_index < 2;
        int fail = failing && (rng >> 63);
        ck_assert_uint_lt(qn, PENDING);
        q[qn++] = (struct pending){.pick = p, .done_at = now + (failing ? 5 : 20) * MS, .fail = fail};
        total++;
        failing_total += failing;
        per_host[p.host_index]++;
        if (now >= detected_at) {
            total_after++;
            failing_after += failing;
        }
    }
    gwlb_health_stats s;
    gwlb_health_stats_get(f.h, &s);
    double share = 100.0 * (double)failing_after / (double)total_after;
    printf("simulation (%s): %u hosts, 2 failing 50%%, P2C least request, %d s at 1000 rps\n",
           label, SIM_HOSTS, SIM_SECONDS);
    printf("  first ejection: host0 at %.3f s, host1 at %.3f s (detected at %.3f s)\n",
           (double)first_eject[0] / SEC, (double)first_eject[1] / SEC, (double)detected_at / SEC);
    printf("  requests after detection: %llu, to failing hosts: %llu (%.2f%%); whole run: %.2f%%\n",
           (unsigned long long)total_after, (unsigned long long)failing_after, share,
           100.0 * (double)failing_total / (double)total);
    printf("  ejections enforced: %llu (consecutive 5xx %llu, success rate %llu), overflow %llu\n",
           (unsigned long long)s.ejections_enforced_total,
           (unsigned long long)s.ejections_enforced_consecutive_5xx,
           (unsigned long long)s.ejections_enforced_success_rate,
           (unsigned long long)s.ejections_overflow);
    printf("  requests per host:");
    for (uint32_t i = 0; i < SIM_HOSTS; i++)
        printf(" %llu", (unsigned long long)per_host[i]);
    printf("\n");
    ck_assert_uint_ne(detected_at, UINT64_MAX);
    ck_assert_msg(share <= 5.0, "failing hosts got %.2f%% after detection", share);
    for (uint32_t i = 2; i < SIM_HOSTS; i++) {
        gwlb_health_host_info info;
        gwlb_health_host_get(f.h, i, &info);
        ck_assert_msg(info.ejections == 0, "healthy host %u was ejected", i);
    }
    teardown(&f);
}

START_TEST(test_simulation_20_hosts_2_failing_half_get_little_traffic_after_detection)
{
    gwlb_health_config hc;
    gwlb_health_config_init(&hc); /* Envoy defaults: 5xx x5, SR 1900, 10 s, 30 s, 10% */
    simulate(&hc, "Envoy defaults");
}
END_TEST

START_TEST(test_simulation_with_success_rate_detection_alone)
{
    gwlb_health_config hc;
    gwlb_health_config_init(&hc);
    hc.consecutive_5xx = 0; /* only the periodic success-rate pass ejects */
    hc.consecutive_gateway_failure = 0;
    simulate(&hc, "success rate only");
}
END_TEST

/* ---- nginx max_fails / fail_timeout (evaluated by the balancer at pick time) ---- */

static gwlb_balancer *nginx_balancer(gwlb_balancer_state **state, uint32_t n, uint32_t max_fails)
{
    ck_assert_int_eq(gwlb_balancer_state_new(8, NULL, state), GWLB_OK);
    gwlb_balancer_host hosts[3];
    static const char *names[3] = {"a:80", "b:80", "c:80"};
    for (uint32_t i = 0; i < n; i++) {
        gwlb_balancer_host_init(&hosts[i], names[i]);
        hosts[i].max_fails = max_fails;
        hosts[i].fail_timeout_ns = 10 * SEC;
    }
    gwlb_balancer_config bc;
    gwlb_balancer_config_init(&bc, GWLB_BALANCER_NGINX_ROUND_ROBIN);
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&bc, hosts, n, *state, 0, &b, NULL), GWLB_OK);
    return b;
}

START_TEST(test_nginx_max_fails_skips_a_host_for_fail_timeout_then_retries_it)
{
    gwlb_balancer_state *st;
    gwlb_balancer *b = nginx_balancer(&st, 3, 2);
    gwlb_balancer_result r;
    for (int i = 0; i < 2; i++) { /* two failures of host a at t = 1 s */
        ck_assert_int_eq(gwlb_balancer_acquire_host(b, 0, SEC, &r), GWLB_OK);
        ck_assert_int_eq(gwlb_balancer_release(b, &r, GWLB_BALANCER_FAILURE,
                                               GWLB_BALANCER_NO_LATENCY, SEC),
                         GWLB_OK);
    }
    /* fails (2) >= max_fails (2) and now - checked <= fail_timeout: skipped
     * up to and including t = 11 s */
    uint64_t times[] = {SEC, 5 * SEC, 11 * SEC};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 50; i++) {
            ck_assert_int_eq(gwlb_balancer_pick(b, times[k], &r), GWLB_OK);
            ck_assert_uint_ne(r.host_index, 0);
            gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 1000, times[k]);
        }
    /* one nanosecond later it is tried again */
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(b, 11 * SEC + 1, &r), GWLB_OK);
        seen += r.host_index == 0;
        gwlb_balancer_release(b, &r, GWLB_BALANCER_SUCCESS, 1000, 11 * SEC + 1);
    }
    ck_assert_int_ge(seen, 1);
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

START_TEST(test_nginx_single_server_upstream_is_never_marked_down)
{
    gwlb_balancer_state *st;
    gwlb_balancer *b = nginx_balancer(&st, 1, 1);
    gwlb_balancer_result r;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(gwlb_balancer_pick(b, SEC, &r), GWLB_OK);
        ck_assert_uint_eq(r.host_index, 0);
        gwlb_balancer_release(b, &r, GWLB_BALANCER_FAILURE, GWLB_BALANCER_NO_LATENCY, SEC);
    }
    gwlb_balancer_free(b);
    gwlb_balancer_state_free(st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("health_balancer");
    TCase *tc = tcase_create("integration");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_apply_copies_every_reason_and_clears_what_health_cleared);
    tcase_add_test(tc, test_drain_stops_new_picks_and_lets_in_flight_finish);
    tcase_add_test(tc, test_panic_is_visible_in_both_stats_and_spreads_over_all_hosts);
    tcase_add_test(tc, test_simulation_20_hosts_2_failing_half_get_little_traffic_after_detection);
    tcase_add_test(tc, test_simulation_with_success_rate_detection_alone);
    tcase_add_test(tc, test_nginx_max_fails_skips_a_host_for_fail_timeout_then_retries_it);
    tcase_add_test(tc, test_nginx_single_server_upstream_is_never_marked_down);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}

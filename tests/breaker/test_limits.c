/*
 * Specification of the resource limits (Envoy circuit_breakers thresholds
 * and its concurrency retry budget) and of the token retry budget
 * (Finagle RetryBudget, reproducing RetryBudgetTest's scenarios).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/breaker.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define MS GWLB_NS_PER_MS
#define T0 (1000 * SEC)

/* ---- resource limits ---------------------------------------------------- */

START_TEST(test_resource_defaults_are_envoys)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    ck_assert_uint_eq(cfg.max[GWLB_RESOURCE_CONNECTIONS], 1024);
    ck_assert_uint_eq(cfg.max[GWLB_RESOURCE_PENDING], 1024);
    ck_assert_uint_eq(cfg.max[GWLB_RESOURCE_REQUESTS], 1024);
    ck_assert_uint_eq(cfg.max[GWLB_RESOURCE_RETRIES], 3);
    ck_assert_uint_eq(cfg.retry_budget, 0);
    ck_assert_uint_eq(cfg.retry_budget_percent, 20);
    ck_assert_uint_eq(cfg.min_retry_concurrency, 3);
    ck_assert_int_eq(gwlb_resource_config_validate(&cfg, NULL), 0);
}
END_TEST

START_TEST(test_acquire_up_to_the_cap_then_reject_with_the_limit_name)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    gwlb_resources r;
    ck_assert_int_eq(gwlb_resources_init(&r), 0);
    for (int i = 0; i < 1024; i++)
        ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_CONNECTIONS), 0);
    gwlb_resources before = r;
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_CONNECTIONS), GWLB_ELIMIT);
    ck_assert_str_eq(gwlb_resource_name(GWLB_RESOURCE_CONNECTIONS), "max_connections");
    ck_assert_uint_eq(gwlb_resources_active(&r, GWLB_RESOURCE_CONNECTIONS), 1024);
    ck_assert_uint_eq(r.overflows[GWLB_RESOURCE_CONNECTIONS], 1);
    r.overflows[GWLB_RESOURCE_CONNECTIONS] = before.overflows[GWLB_RESOURCE_CONNECTIONS];
    ck_assert_int_eq(memcmp(&r, &before, sizeof r), 0); /* nothing else moved */
    ck_assert_int_eq(gwlb_resources_release(&r, GWLB_RESOURCE_CONNECTIONS), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_CONNECTIONS), 0);
}
END_TEST

START_TEST(test_each_resource_has_its_own_cap)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    cfg.max[GWLB_RESOURCE_PENDING] = 2;
    cfg.max[GWLB_RESOURCE_REQUESTS] = 1;
    gwlb_resources r;
    gwlb_resources_init(&r);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_REQUESTS), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_REQUESTS), GWLB_ELIMIT);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_PENDING), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_PENDING), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_PENDING), GWLB_ELIMIT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), GWLB_ELIMIT);
    ck_assert_str_eq(gwlb_resource_name(GWLB_RESOURCE_PENDING), "max_pending_requests");
    ck_assert_str_eq(gwlb_resource_name(GWLB_RESOURCE_REQUESTS), "max_requests");
    ck_assert_str_eq(gwlb_resource_name(GWLB_RESOURCE_RETRIES), "max_retries");
    ck_assert_str_eq(gwlb_resource_name(7), "unknown");
    ck_assert_uint_eq(r.overflows[GWLB_RESOURCE_REQUESTS], 1);
    ck_assert_uint_eq(r.overflows[GWLB_RESOURCE_PENDING], 1);
    ck_assert_uint_eq(r.overflows[GWLB_RESOURCE_RETRIES], 1);
    ck_assert_uint_eq(r.overflows[GWLB_RESOURCE_CONNECTIONS], 0);
}
END_TEST

START_TEST(test_release_without_acquire_is_refused_and_changes_nothing)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    gwlb_resources r;
    gwlb_resources_init(&r);
    gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_REQUESTS);
    gwlb_resources before = r;
    ck_assert_int_eq(gwlb_resources_release(&r, GWLB_RESOURCE_CONNECTIONS), GWLB_ESTATE);
    ck_assert_int_eq(memcmp(&r, &before, sizeof r), 0);
    ck_assert_int_eq(gwlb_resources_release(&r, GWLB_RESOURCE_REQUESTS), 0);
    ck_assert_int_eq(gwlb_resources_release(&r, GWLB_RESOURCE_REQUESTS), GWLB_ESTATE);
    ck_assert_uint_eq(gwlb_resources_active(&r, GWLB_RESOURCE_REQUESTS), 0);
}
END_TEST

START_TEST(test_resource_bad_arguments)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    gwlb_resources r;
    gwlb_resources_init(&r);
    gwlb_resources before = r;
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_COUNT), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, -1), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_release(&r, GWLB_RESOURCE_COUNT), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_acquire(NULL, &cfg, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_acquire(&r, NULL, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_release(NULL, 0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_resources_init(NULL), GWLB_EINVAL);
    ck_assert_int_eq(memcmp(&r, &before, sizeof r), 0);
    gwlb_error_detail d;
    cfg.retry_budget_percent = 101;
    ck_assert_int_eq(gwlb_resource_config_validate(&cfg, &d), GWLB_ERANGE);
    ck_assert_str_eq(d.field, "retry_budget_percent");
    ck_assert_int_eq(gwlb_resource_config_validate(NULL, NULL), GWLB_EINVAL);
}
END_TEST

static void hold(gwlb_resources *r, const gwlb_resource_config *cfg, int kind, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(gwlb_resources_acquire(r, cfg, kind), 0);
}

/* Envoy RetryBudget: max(budget% x (requests + pending), min_retry_concurrency). */
START_TEST(test_retry_budget_follows_active_requests_with_a_minimum)
{
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    cfg.retry_budget = 1; /* 20 %, minimum 3 */
    gwlb_resources r;
    gwlb_resources_init(&r);
    ck_assert_uint_eq(gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES), 3);
    hold(&r, &cfg, GWLB_RESOURCE_REQUESTS, 14); /* 20 % of 14 = 2.8 -> 2 -> min 3 */
    ck_assert_uint_eq(gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES), 3);
    hold(&r, &cfg, GWLB_RESOURCE_REQUESTS, 6); /* 20 -> 4 */
    ck_assert_uint_eq(gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES), 4);
    hold(&r, &cfg, GWLB_RESOURCE_PENDING, 10); /* pending counts too: 30 -> 6 */
    ck_assert_uint_eq(gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES), 6);
    hold(&r, &cfg, GWLB_RESOURCE_RETRIES, 6); /* canCreate while count < max */
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), GWLB_ELIMIT);
    hold(&r, &cfg, GWLB_RESOURCE_REQUESTS, 5); /* 35 -> 7 */
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), GWLB_ELIMIT);
    /* max_retries is not what limits once the budget is on */
    ck_assert_uint_eq(gwlb_resources_active(&r, GWLB_RESOURCE_RETRIES), 7);
    cfg.retry_budget = 0;
    ck_assert_uint_eq(gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES), 3);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), GWLB_ELIMIT);
}
END_TEST

/* The retry acquire decides without dividing; it must agree with the
 * limit gwlb_resources_limit() reports, on both sides of every budget edge. */
START_TEST(test_retry_acquire_agrees_with_the_reported_limit)
{
    static const uint32_t pcts[] = {0, 1, 20, 33, 50, 99, 100};
    static const uint32_t mins[] = {0, 1, 3, 10};
    gwlb_resource_config cfg;
    gwlb_resource_config_init(&cfg);
    cfg.retry_budget = 1;
    uint64_t checked = 0, taken = 0, mism = 0;
    for (size_t p = 0; p < sizeof pcts / sizeof pcts[0]; p++) {
        for (size_t m = 0; m < sizeof mins / sizeof mins[0]; m++) {
            cfg.retry_budget_percent = pcts[p];
            cfg.min_retry_concurrency = mins[m];
            for (uint64_t req = 0; req < 260; req += 3) {
                for (uint64_t pend = 0; pend < 40; pend += 13) {
                    gwlb_resources r;
                    gwlb_resources_init(&r);
                    r.active[GWLB_RESOURCE_REQUESTS] = req;
                    r.active[GWLB_RESOURCE_PENDING] = pend;
                    uint64_t lim = gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES);
                    /* fill up to the limit and one past it */
                    for (uint64_t cur = 0; cur <= lim + 1; cur++) {
                        int rc = gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES);
                        mism += rc != (cur < lim ? 0 : GWLB_ELIMIT);
                        taken += rc == 0;
                        checked++;
                    }
                    mism += gwlb_resources_active(&r, GWLB_RESOURCE_RETRIES) != lim;
                }
            }
        }
    }
    ck_assert_uint_eq(mism, 0);
    ck_assert_uint_gt(checked, 100000);
    ck_assert_uint_gt(taken, 90000);
    /* huge counts: the products do not overflow */
    gwlb_resources r;
    gwlb_resources_init(&r);
    cfg.retry_budget_percent = 100;
    cfg.min_retry_concurrency = 0;
    r.active[GWLB_RESOURCE_REQUESTS] = UINT64_MAX / 2;
    r.active[GWLB_RESOURCE_RETRIES] = UINT64_MAX / 2 - 1;
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), GWLB_ELIMIT);
    cfg.retry_budget_percent = 99;
    r.active[GWLB_RESOURCE_RETRIES] = 0;
    ck_assert_uint_eq(gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES),
                      UINT64_MAX / 2 / 100 * 99 + UINT64_MAX / 2 % 100 * 99 / 100);
    r.active[GWLB_RESOURCE_RETRIES] =
        gwlb_resources_limit(&r, &cfg, GWLB_RESOURCE_RETRIES) - 1;
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), 0);
    ck_assert_int_eq(gwlb_resources_acquire(&r, &cfg, GWLB_RESOURCE_RETRIES), GWLB_ELIMIT);
}
END_TEST

/* ---- token retry budget (Finagle) --------------------------------------- */

START_TEST(test_retry_budget_defaults_are_finagles)
{
    gwlb_retry_budget_config cfg;
    gwlb_retry_budget_config_init(&cfg);
    ck_assert_uint_eq(cfg.ttl_ns, 10 * SEC);
    ck_assert_uint_eq(cfg.min_retries_per_sec, 10);
    ck_assert_uint_eq(cfg.can_retry_ppm, 200000);
    gwlb_retry_budget b;
    ck_assert_int_eq(gwlb_retry_budget_init(&b, &cfg, NULL), 0);
    /* reserve: 10/s x 10 s = 100 retries before any request */
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
    /* 5 requests at 20 % pay for one retry */
    for (int i = 0; i < 4; i++)
        gwlb_retry_budget_deposit(&b, &cfg, T0);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
    gwlb_retry_budget_deposit(&b, &cfg, T0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 1);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
}
END_TEST

/* RetryBudgetTest.testBudget: 10000 x (deposit; tryWithdraw) at frozen time. */
static void finagle_test_budget(uint64_t ttl_s, uint32_t min_per_sec, uint32_t ppm)
{
    gwlb_retry_budget_config cfg = {ttl_s * SEC, min_per_sec, ppm};
    gwlb_retry_budget b;
    ck_assert_int_eq(gwlb_retry_budget_init(&b, &cfg, NULL), 0);
    uint64_t min_retries = ttl_s * min_per_sec;
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), min_retries);
    if (min_retries == 0)
        ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
    int64_t retried = 0;
    for (int i = 0; i < 10000; i++) {
        gwlb_retry_budget_deposit(&b, &cfg, T0);
        if (gwlb_retry_budget_withdraw(&b, &cfg, T0) == 0)
            retried++;
        else
            ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 0);
    }
    int64_t expected = (int64_t)(10000 * (uint64_t)ppm / 1000000) + (int64_t)min_retries;
    ck_assert_msg(retried >= expected - 1 && retried <= expected + 1,
                  "ppm %u: retried %lld, expected %lld +- 1", ppm, (long long)retried,
                  (long long)expected);
}

START_TEST(test_finagle_retry_budget_percentages)
{
    static const uint32_t ppm[] = {100000, 500000, 250000, 750000, 990000,
                                   999000, 999900, 10000,  1000,   100};
    for (size_t i = 0; i < sizeof ppm / sizeof ppm[0]; i++)
        finagle_test_budget(60, 0, ppm[i]);
}
END_TEST

START_TEST(test_finagle_retry_budget_with_minimum_retries)
{
    finagle_test_budget(1, 10, 0);
    finagle_test_budget(2, 5, 0);
    finagle_test_budget(1, 10, 100000);
    finagle_test_budget(2, 5, 500000);
}
END_TEST

START_TEST(test_finagle_retry_budget_above_one_hundred_percent)
{
    gwlb_retry_budget_config cfg = {60 * SEC, 0, 2000000}; /* 2.0 */
    gwlb_retry_budget b;
    gwlb_retry_budget_init(&b, &cfg, NULL);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
    for (int i = 0; i < 10000; i++)
        gwlb_retry_budget_deposit(&b, &cfg, T0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 20000);
}
END_TEST

START_TEST(test_finagle_empty_budget_never_allows)
{
    gwlb_retry_budget_config cfg = {10 * SEC, 0, 0};
    gwlb_retry_budget b;
    gwlb_retry_budget_init(&b, &cfg, NULL);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
    gwlb_retry_budget_deposit(&b, &cfg, T0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 0);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_ELIMIT);
}
END_TEST

/* Deposits expire with their slice (WindowedAdderTest "maintains a sliding
 * window", with 10 slices of 1 s). */
START_TEST(test_deposits_expire_after_the_ttl)
{
    gwlb_retry_budget_config cfg = {10 * SEC, 0, 1000000}; /* 1 deposit = 1 retry */
    gwlb_retry_budget b;
    gwlb_retry_budget_init(&b, &cfg, NULL);
    gwlb_retry_budget_deposit(&b, &cfg, T0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0), 1);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 1 * SEC), 1);
    gwlb_retry_budget_deposit(&b, &cfg, T0 + 1 * SEC);
    gwlb_retry_budget_deposit(&b, &cfg, T0 + 1 * SEC);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 1 * SEC), 3);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 9 * SEC + 999 * MS), 3);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 10 * SEC), 2);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 11 * SEC), 0);
}
END_TEST

START_TEST(test_withdrawals_expire_too)
{
    gwlb_retry_budget_config cfg;
    gwlb_retry_budget_config_init(&cfg);
    gwlb_retry_budget b;
    gwlb_retry_budget_init(&b, &cfg, NULL);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), 0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 9 * SEC), 0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 10 * SEC), 100);
    /* a slot reused after a full ttl starts from zero */
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0 + 10 * SEC), 0);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 10 * SEC), 99);
}
END_TEST

START_TEST(test_retry_budget_time_going_backwards_is_booked_in_the_newer_slice)
{
    gwlb_retry_budget_config cfg = {10 * SEC, 0, 1000000};
    gwlb_retry_budget b;
    gwlb_retry_budget_init(&b, &cfg, NULL);
    gwlb_retry_budget_deposit(&b, &cfg, T0 + 20 * SEC);
    gwlb_retry_budget_deposit(&b, &cfg, T0 + 10 * SEC); /* same slot, older slice */
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 20 * SEC), 2);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 29 * SEC), 2);
    ck_assert_uint_eq(gwlb_retry_budget_balance(&b, &cfg, T0 + 30 * SEC), 0);
}
END_TEST

START_TEST(test_retry_budget_bad_config)
{
    gwlb_retry_budget_config cfg = {SEC - 1, 10, 200000};
    gwlb_error_detail d;
    gwlb_retry_budget b;
    memset(&b, 0x5a, sizeof b);
    gwlb_retry_budget before = b;
    ck_assert_int_eq(gwlb_retry_budget_init(&b, &cfg, &d), GWLB_ERANGE);
    ck_assert_str_eq(d.field, "ttl_ns");
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
    cfg.ttl_ns = 61 * SEC;
    ck_assert_int_eq(gwlb_retry_budget_config_validate(&cfg, &d), GWLB_ERANGE);
    cfg.ttl_ns = 60 * SEC;
    ck_assert_int_eq(gwlb_retry_budget_config_validate(&cfg, &d), 0);
    cfg.can_retry_ppm = 1000000001;
    ck_assert_int_eq(gwlb_retry_budget_config_validate(&cfg, &d), GWLB_ERANGE);
    ck_assert_str_eq(d.field, "can_retry_ppm");
    ck_assert_int_eq(gwlb_retry_budget_deposit(&b, &cfg, T0), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_retry_budget_withdraw(&b, &cfg, T0), GWLB_EINVAL);
    ck_assert_int_eq(memcmp(&b, &before, sizeof b), 0);
    ck_assert_int_eq(gwlb_retry_budget_config_validate(NULL, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_retry_budget_deposit(NULL, &cfg, T0), GWLB_EINVAL);
    ck_assert_uint_eq(gwlb_retry_budget_balance(NULL, &cfg, T0), 0);
}
END_TEST

static Suite *limits_suite(void)
{
    Suite *s = suite_create("breaker-limits");
    TCase *tc = tcase_create("envoy");
    tcase_add_test(tc, test_resource_defaults_are_envoys);
    tcase_add_test(tc, test_acquire_up_to_the_cap_then_reject_with_the_limit_name);
    tcase_add_test(tc, test_each_resource_has_its_own_cap);
    tcase_add_test(tc, test_release_without_acquire_is_refused_and_changes_nothing);
    tcase_add_test(tc, test_resource_bad_arguments);
    tcase_add_test(tc, test_retry_budget_follows_active_requests_with_a_minimum);
    tcase_add_test(tc, test_retry_acquire_agrees_with_the_reported_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("finagle");
    tcase_add_test(tc, test_retry_budget_defaults_are_finagles);
    tcase_add_test(tc, test_finagle_retry_budget_percentages);
    tcase_add_test(tc, test_finagle_retry_budget_with_minimum_retries);
    tcase_add_test(tc, test_finagle_retry_budget_above_one_hundred_percent);
    tcase_add_test(tc, test_finagle_empty_budget_never_allows);
    tcase_add_test(tc, test_deposits_expire_after_the_ttl);
    tcase_add_test(tc, test_withdrawals_expire_too);
    tcase_add_test(tc, test_retry_budget_time_going_backwards_is_booked_in_the_newer_slice);
    tcase_add_test(tc, test_retry_budget_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(limits_suite());
}

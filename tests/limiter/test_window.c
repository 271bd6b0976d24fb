/*
 * Specification of the window counters (fixed-window quota, sliding-window
 * two-window estimate) and the concurrency limit.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/limiter.h"
#include "test_run.h"

#define MS GWLB_NS_PER_MS
#define SEC GWLB_NS_PER_SEC
#define EPOCH (UINT64_C(1000) * SEC) /* host's window origin */

static int quota_take(gwlb_quota *q, uint64_t now, uint64_t cost, gwlb_limit_result *r)
{
    ck_assert_int_eq(gwlb_quota_allow(q, now, cost, r), GWLB_OK);
    return r->allowed;
}

START_TEST(test_quota_admits_limit_per_window_then_restarts_at_boundary)
{
    gwlb_quota q;
    ck_assert_int_eq(gwlb_quota_init(&q, 3, GWLB_WINDOW_MINUTE, EPOCH), GWLB_OK);
    gwlb_limit_result r;
    uint64_t t = EPOCH + 59 * SEC; /* 1 s before the first boundary */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(quota_take(&q, t, 1, &r), 1);
        ck_assert_uint_eq(r.remaining, (uint64_t)(2 - i));
        ck_assert_uint_eq(r.reset_after_ns, SEC);
    }
    ck_assert_int_eq(quota_take(&q, t, 1, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)SEC);
    ck_assert_int_eq(quota_take(&q, EPOCH + 60 * SEC - 1, 1, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, 1);
    ck_assert_int_eq(quota_take(&q, EPOCH + 60 * SEC, 1, &r), 1);
    ck_assert_uint_eq(r.remaining, 2);
    ck_assert_uint_eq(r.reset_after_ns, 60 * SEC);
}
END_TEST

START_TEST(test_quota_windows_are_aligned_to_the_host_epoch)
{
    gwlb_quota q;
    gwlb_quota_init(&q, 1, GWLB_WINDOW_DAY, EPOCH + 7 * GWLB_WINDOW_HOUR); /* "midnight" */
    gwlb_limit_result r;
    uint64_t midnight = EPOCH + 7 * GWLB_WINDOW_HOUR + 5 * GWLB_WINDOW_DAY;
    ck_assert_int_eq(quota_take(&q, midnight - 1, 1, &r), 1);
    ck_assert_uint_eq(r.reset_after_ns, 1);
    ck_assert_int_eq(quota_take(&q, midnight, 1, &r), 1);
    ck_assert_uint_eq(r.reset_after_ns, GWLB_WINDOW_DAY);
    /* before the epoch counts as window 0 */
    gwlb_quota early;
    gwlb_quota_init(&early, 1, GWLB_WINDOW_SECOND, EPOCH);
    ck_assert_int_eq(quota_take(&early, 0, 1, &r), 1);
    ck_assert_uint_eq(r.reset_after_ns, EPOCH + SEC);
    ck_assert_int_eq(quota_take(&early, EPOCH + SEC - 1, 1, &r), 0);
}
END_TEST

START_TEST(test_quota_cost_zero_peeks_and_cost_above_limit_never_fits)
{
    gwlb_quota q;
    gwlb_quota_init(&q, 5, GWLB_WINDOW_SECOND, EPOCH);
    gwlb_limit_result r;
    quota_take(&q, EPOCH, 2, &r);
    uint64_t st = q.state;
    ck_assert_int_eq(quota_take(&q, EPOCH, 0, &r), 1);
    ck_assert_uint_eq(r.remaining, 3);
    ck_assert_uint_eq(q.state, st);
    ck_assert_int_eq(quota_take(&q, EPOCH, 6, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, -1);
    ck_assert_int_eq(quota_take(&q, EPOCH, 4, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, (int64_t)SEC);
    ck_assert_uint_eq(q.state, st);
    ck_assert_int_eq(quota_take(&q, EPOCH, 3, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
}
END_TEST

START_TEST(test_quota_clock_going_back_a_window_does_not_restart_the_count)
{
    gwlb_quota q;
    gwlb_quota_init(&q, 2, GWLB_WINDOW_SECOND, EPOCH);
    gwlb_limit_result r;
    quota_take(&q, EPOCH + 5 * SEC, 1, &r);
    quota_take(&q, EPOCH + 5 * SEC, 1, &r);
    ck_assert_int_eq(quota_take(&q, EPOCH + 3 * SEC, 1, &r), 0);
    ck_assert_uint_eq(r.reset_after_ns, 3 * SEC); /* until the stored window ends */
    ck_assert_int_eq(quota_take(&q, 0, 1, &r), 0);
    ck_assert_int_eq(quota_take(&q, EPOCH + 6 * SEC, 1, &r), 1);
}
END_TEST

static int slide(gwlb_sliding *s, uint64_t now, uint64_t cost, gwlb_limit_result *r)
{
    ck_assert_int_eq(gwlb_sliding_allow(s, now, cost, r), GWLB_OK);
    return r->allowed;
}

START_TEST(test_sliding_window_weights_previous_window_by_overlap)
{
    /* limit 10 per 10 s. 10 requests in window 0; at 25% into window 1 the
     * estimate is 10 * 0.75 = 7.5: two more fit (9.5), a third does not. */
    gwlb_sliding s;
    ck_assert_int_eq(gwlb_sliding_init(&s, 10, 10 * SEC, EPOCH), GWLB_OK);
    gwlb_limit_result r;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(slide(&s, EPOCH + 5 * SEC, 1, &r), 1);
    ck_assert_int_eq(slide(&s, EPOCH + 5 * SEC, 1, &r), 0);
    uint64_t t = EPOCH + 12500 * MS;
    ck_assert_int_eq(slide(&s, t, 1, &r), 1);
    ck_assert_uint_eq(r.remaining, 1); /* 10 - ceil(8.5) */
    ck_assert_int_eq(slide(&s, t, 1, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_int_eq(slide(&s, t, 1, &r), 0);
    /* fits again once 10 * (W - e)/W + 2 + 1 <= 10: e >= 3 s -> 500 ms later */
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(500 * MS));
    ck_assert_int_eq(slide(&s, EPOCH + 13 * SEC - 1, 1, &r), 0);
    ck_assert_int_eq(slide(&s, EPOCH + 13 * SEC, 1, &r), 1);
}
END_TEST

START_TEST(test_sliding_window_forgets_after_two_windows)
{
    gwlb_sliding s;
    gwlb_sliding_init(&s, 3, SEC, EPOCH);
    gwlb_limit_result r;
    for (int i = 0; i < 3; i++)
        slide(&s, EPOCH, 1, &r);
    ck_assert_uint_eq(r.reset_after_ns, 2 * SEC);
    ck_assert_int_eq(slide(&s, EPOCH + 2 * SEC, 3, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
}
END_TEST

START_TEST(test_sliding_window_retry_waits_into_next_window_when_current_is_full)
{
    gwlb_sliding s;
    gwlb_sliding_init(&s, 4, 10 * SEC, EPOCH);
    gwlb_limit_result r;
    for (int i = 0; i < 4; i++)
        slide(&s, EPOCH + 8 * SEC, 1, &r);
    ck_assert_int_eq(slide(&s, EPOCH + 8 * SEC, 2, &r), 0);
    /* next window: 4 * (W - e)/W + 2 <= 4 -> e >= 5 s: 2 s + 5 s */
    ck_assert_int_eq(r.retry_after_ns, (int64_t)(7 * SEC));
    ck_assert_int_eq(slide(&s, EPOCH + 15 * SEC - 1, 2, &r), 0);
    ck_assert_int_eq(slide(&s, EPOCH + 15 * SEC, 2, &r), 1);
}
END_TEST

START_TEST(test_window_bad_config_is_rejected_and_changes_nothing)
{
    gwlb_quota q;
    memset(&q, 0x11, sizeof q);
    gwlb_quota copy = q;
    ck_assert_int_eq(gwlb_quota_init(&q, 1, 0, 0), GWLB_ERANGE);    /* window 0 */
    ck_assert_int_eq(gwlb_quota_init(&q, 0, SEC, 0), GWLB_ERANGE);  /* limit 0 */
    ck_assert_int_eq(gwlb_quota_init(&q, UINT64_C(1) << 32, SEC, 0), GWLB_EOVERFLOW);
    ck_assert_int_eq(gwlb_quota_init(NULL, 1, SEC, 0), GWLB_EINVAL);
    ck_assert_mem_eq(&q, &copy, sizeof q);
    gwlb_sliding s;
    memset(&s, 0x22, sizeof s);
    gwlb_sliding scopy = s;
    ck_assert_int_eq(gwlb_sliding_init(&s, GWLB_SLIDING_LIMIT_MAX + 1, SEC, 0), GWLB_EOVERFLOW);
    ck_assert_int_eq(gwlb_sliding_init(&s, 5, 0, 0), GWLB_ERANGE);
    ck_assert_mem_eq(&s, &scopy, sizeof s);
    gwlb_limit_result r;
    ck_assert_int_eq(gwlb_quota_allow(NULL, 0, 1, &r), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_sliding_allow(NULL, 0, 1, &r), GWLB_EINVAL);
}
END_TEST

START_TEST(test_concurrency_limit_admits_max_in_flight)
{
    gwlb_concurrency c;
    ck_assert_int_eq(gwlb_concurrency_init(&c, 2), GWLB_OK);
    gwlb_limit_result r;
    gwlb_concurrency_acquire(&c, &r);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.remaining, 1);
    gwlb_concurrency_acquire(&c, &r);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.remaining, 0);
    gwlb_concurrency_acquire(&c, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(gwlb_concurrency_in_flight(&c), 2);
    ck_assert_int_eq(gwlb_concurrency_release(&c), GWLB_OK);
    gwlb_concurrency_acquire(&c, &r);
    ck_assert_int_eq(r.allowed, 1);
}
END_TEST

START_TEST(test_concurrency_unpaired_release_is_estate_and_never_wraps)
{
    gwlb_concurrency c;
    gwlb_concurrency_init(&c, 1);
    ck_assert_int_eq(gwlb_concurrency_release(&c), GWLB_ESTATE);
    ck_assert_uint_eq(gwlb_concurrency_in_flight(&c), 0);
    ck_assert_int_eq(gwlb_concurrency_release(NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_concurrency_acquire(NULL, NULL), GWLB_EINVAL);
    gwlb_concurrency zero;
    gwlb_concurrency_init(&zero, 0);
    gwlb_limit_result r;
    gwlb_concurrency_acquire(&zero, &r);
    ck_assert_int_eq(r.allowed, 0);
}
END_TEST

static Suite *window_suite(void)
{
    Suite *s = suite_create("limiter-window");
    TCase *tc = tcase_create("window");
    tcase_add_test(tc, test_quota_admits_limit_per_window_then_restarts_at_boundary);
    tcase_add_test(tc, test_quota_windows_are_aligned_to_the_host_epoch);
    tcase_add_test(tc, test_quota_cost_zero_peeks_and_cost_above_limit_never_fits);
    tcase_add_test(tc, test_quota_clock_going_back_a_window_does_not_restart_the_count);
    tcase_add_test(tc, test_sliding_window_weights_previous_window_by_overlap);
    tcase_add_test(tc, test_sliding_window_forgets_after_two_windows);
    tcase_add_test(tc, test_sliding_window_retry_waits_into_next_window_when_current_is_full);
    tcase_add_test(tc, test_window_bad_config_is_rejected_and_changes_nothing);
    tcase_add_test(tc, test_concurrency_limit_admits_max_in_flight);
    tcase_add_test(tc, test_concurrency_unpaired_release_is_estate_and_never_wraps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(window_suite());
}

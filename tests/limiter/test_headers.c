/*
 * Specification of the rate-limit header values: IETF RateLimit and
 * RateLimit-Policy items (draft -10 syntax), the legacy X-RateLimit-*
 * trio and Retry-After, and their errors (buffer untouched).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/limiter.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC

START_TEST(test_policy_items_match_draft_10_examples)
{
    char buf[128];
    size_t len = 0;
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "burst", 100, 60), GWLB_OK);
    ck_assert_str_eq(buf, "\"burst\";q=100;w=60");
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "daily", 1000, 86400),
                     GWLB_OK);
    ck_assert_str_eq(buf, "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400");
    len = 0;
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "quota", 10, 0), GWLB_OK);
    ck_assert_str_eq(buf, "\"quota\";q=10");
}
END_TEST

START_TEST(test_ratelimit_item_from_a_result_matches_draft_10_example)
{
    gwlb_limit_result r;
    memset(&r, 0, sizeof r);
    r.allowed = 1;
    r.limit = 100;
    r.remaining = 50;
    r.reset_after_ns = 29 * SEC + 1; /* rounds up to 30 */
    char buf[64];
    size_t len = 0;
    ck_assert_int_eq(gwlb_ratelimit_item(buf, sizeof buf, &len, "default", &r), GWLB_OK);
    ck_assert_str_eq(buf, "\"default\";r=50;t=30");
}
END_TEST

START_TEST(test_ratelimit_item_from_gcra_redis_cell_state)
{
    /* limit 5/s burst 4 after two requests: remaining 3, full again in 2 s */
    gwlb_gcra b;
    gwlb_gcra_init(&b, 1, SEC, 4);
    gwlb_limit_result r;
    gwlb_gcra_allow(&b, 100 * SEC, 1, &r);
    gwlb_gcra_allow(&b, 100 * SEC, 1, &r);
    char buf[64];
    size_t len = 0;
    ck_assert_int_eq(gwlb_ratelimit_item(buf, sizeof buf, &len, "default", &r), GWLB_OK);
    ck_assert_str_eq(buf, "\"default\";r=3;t=2");
}
END_TEST

START_TEST(test_policy_name_is_escaped_as_sf_string)
{
    char buf[64];
    size_t len = 0;
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "a\"b\\c", 1, 1), GWLB_OK);
    ck_assert_str_eq(buf, "\"a\\\"b\\\\c\";q=1;w=1");
}
END_TEST

START_TEST(test_legacy_values_and_retry_after)
{
    gwlb_gcra b;
    gwlb_gcra_init(&b, 2, SEC, 0); /* T = 500 ms, limit 1 */
    gwlb_limit_result r;
    gwlb_gcra_allow(&b, 100 * SEC, 1, &r);
    char buf[32];
    size_t len = 99;
    ck_assert_int_eq(gwlb_ratelimit_legacy_value(&r, GWLB_X_RATELIMIT_LIMIT, buf, sizeof buf, &len),
                     GWLB_OK);
    ck_assert_str_eq(buf, "1");
    ck_assert_uint_eq(len, 1);
    gwlb_ratelimit_legacy_value(&r, GWLB_X_RATELIMIT_REMAINING, buf, sizeof buf, &len);
    ck_assert_str_eq(buf, "0");
    gwlb_ratelimit_legacy_value(&r, GWLB_X_RATELIMIT_RESET, buf, sizeof buf, &len);
    ck_assert_str_eq(buf, "1"); /* 0.5 s rounds up */
    ck_assert_int_eq(gwlb_ratelimit_legacy_value(&r, GWLB_RETRY_AFTER, buf, sizeof buf, &len),
                     GWLB_ENOENT); /* allowed: no Retry-After */
    gwlb_gcra_allow(&b, 100 * SEC, 1, &r);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_int_eq(gwlb_ratelimit_legacy_value(&r, GWLB_RETRY_AFTER, buf, sizeof buf, &len),
                     GWLB_OK);
    ck_assert_str_eq(buf, "1");
    gwlb_gcra_allow(&b, 100 * SEC, 5, &r); /* can never fit */
    ck_assert_int_eq(gwlb_ratelimit_legacy_value(&r, GWLB_RETRY_AFTER, buf, sizeof buf, &len),
                     GWLB_ENOENT);
}
END_TEST

START_TEST(test_header_errors_leave_the_buffer_untouched)
{
    char buf[16];
    memset(buf, 'Z', sizeof buf);
    size_t len = 0;
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "averylongname", 100, 60),
                     GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "tab\there", 1, 1),
                     GWLB_ESYNTAX);
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, "x", UINT64_C(1000000000000000), 1),
                     GWLB_ERANGE);
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, NULL, 1, 1), GWLB_EINVAL);
    size_t bad = 17;
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &bad, "x", 1, 1), GWLB_EINVAL);
    static char longname[GWLB_RATELIMIT_NAME_MAX + 2];
    memset(longname, 'n', GWLB_RATELIMIT_NAME_MAX + 1);
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, sizeof buf, &len, longname, 1, 1),
                     GWLB_ETOOLONG);
    gwlb_limit_result r;
    memset(&r, 0, sizeof r);
    r.limit = UINT64_C(12345678901234567);
    ck_assert_int_eq(gwlb_ratelimit_legacy_value(&r, GWLB_X_RATELIMIT_LIMIT, buf, 5, &len),
                     GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_ratelimit_legacy_value(&r, (enum gwlb_ratelimit_legacy)9, buf,
                                                 sizeof buf, &len), GWLB_EINVAL);
    for (size_t i = 0; i < sizeof buf; i++)
        ck_assert_int_eq(buf[i], 'Z');
    ck_assert_uint_eq(len, 0);
    /* exactly fitting, with the NUL */
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, 14, &len, "ab", 100, 6), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_ratelimit_policy_item(buf, 15, &len, "ab", 100, 6), GWLB_OK);
    ck_assert_str_eq(buf, "\"ab\";q=100;w=6");
}
END_TEST

static Suite *headers_suite(void)
{
    Suite *s = suite_create("limiter-headers");
    TCase *tc = tcase_create("headers");
    tcase_add_test(tc, test_policy_items_match_draft_10_examples);
    tcase_add_test(tc, test_ratelimit_item_from_a_result_matches_draft_10_example);
    tcase_add_test(tc, test_ratelimit_item_from_gcra_redis_cell_state);
    tcase_add_test(tc, test_policy_name_is_escaped_as_sf_string);
    tcase_add_test(tc, test_legacy_values_and_retry_after);
    tcase_add_test(tc, test_header_errors_leave_the_buffer_untouched);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(headers_suite());
}

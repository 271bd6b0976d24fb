/*
 * Compatibility proof against the real nginx (Debian /usr/sbin/nginx):
 * start nginx on 127.0.0.1 in a temporary prefix, send back-to-back
 * requests through limit_req, and compare every status with what our
 * nginx-mode model decides for the same configuration.
 *
 * Why this is deterministic: the rate is 1r/m (16 milli-requests per
 * second in nginx's arithmetic), so while the whole test runs (well under
 * a second of wall time, bounded below) the excess decays by less than
 * 1000 milli-requests and no admit/reject threshold can be crossed by the
 * passing of time. A delay is observed only as "no answer yet" (at 1r/m
 * nginx's delay is a minute); exact delay lengths and drains over time
 * are proven by replaying the published nginx-tests scenarios
 * (test_limit_req.c), which nginx's own test suite asserts.
 */
#define _GNU_SOURCE
#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gwlb/limiter.h"
#include "test_servers.h"

#define PORT 18401

static test_nginx nginx = {.pid = -1};

static int http_status(const char *path)
{
    char buf[512];
    int fd = test_http_send(0, PORT, path);
    return fd < 0 ? -1 : test_http_read(fd, buf, sizeof buf, NULL);
}

/* 1 if the socket has a response byte within ms milliseconds. */
static int answered_within(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, ms) == 1;
}

static void start_nginx(void)
{
    ck_assert_int_eq(test_nginx_prepare(&nginx, "limiter-nginx"), 0);
    ck_assert_int_eq(test_nginx_write(&nginx, "html/a", "ok\n"), 0);
    ck_assert_int_eq(test_nginx_write(&nginx, "html/multi", "ok\n"), 0);
    ck_assert_int_eq(test_nginx_write(&nginx, "html/d", "ok\n"), 0);
    char http[2048];
    snprintf(http, sizeof http,
             " limit_req_zone $arg_k zone=perkey:1m rate=1r/m;\n"
             " limit_req_zone $arg_k zone=multikey:1m rate=1r/m;\n"
             " limit_req_zone $server_name zone=global:1m rate=1r/m;\n"
             " limit_req_zone $arg_k zone=delayed:1m rate=1r/m;\n"
             " server {\n  listen 127.0.0.1:%d;\n  server_name localhost;\n"
             "  root %s/html;\n"
             "  location = /a { limit_req zone=perkey burst=3 nodelay; }\n"
             "  location = /multi { limit_req zone=multikey burst=2 nodelay;\n"
             "                      limit_req zone=global burst=4 nodelay; }\n"
             "  location = /d { limit_req zone=delayed burst=2 delay=1; }\n"
             " }\n",
             PORT, nginx.prefix);
    ck_assert_int_eq(test_nginx_start(&nginx, http, PORT), 0);
}

static void stop_nginx(void)
{
    test_nginx_stop(&nginx);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * GWLB_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

START_TEST(test_real_nginx_burst3_nodelay_1rpm_admits_exactly_burst_plus_one)
{
    start_nginx();
    uint64_t t_start = now_ns();
    gwlb_limit_req model[2];
    for (int k = 0; k < 2; k++)
        gwlb_limit_req_init(&model[k], 1, GWLB_LIMIT_REQ_PER_MINUTE, 3, GWLB_LIMIT_REQ_NODELAY);
    /* Interleave two keys: 6 requests each. */
    int admitted[2] = {0, 0};
    for (int i = 0; i < 12; i++) {
        int k = i % 2;
        int status = http_status(k == 0 ? "/a?k=alpha" : "/a?k=beta");
        gwlb_limit_result r;
        gwlb_limit_req_allow(&model[k], UINT64_C(1000000) * GWLB_NS_PER_SEC, &r);
        ck_assert_msg(status == (r.allowed ? 200 : 503), "request %d: nginx %d, model %d", i,
                      status, r.allowed ? 200 : 503);
        admitted[k] += status == 200;
    }
    uint64_t elapsed = now_ns() - t_start;
    stop_nginx();
    ck_assert_int_eq(admitted[0], 4);
    ck_assert_int_eq(admitted[1], 4);
    /* The determinism argument needs the run to stay well under 60 s. */
    ck_assert_uint_lt(elapsed, 30 * GWLB_NS_PER_SEC);
}
END_TEST

START_TEST(test_real_nginx_two_limits_reject_without_counting_the_other)
{
    /* /multi: per-key burst=2 then global burst=4, both 1r/m nodelay. A
     * request rejected by either zone is counted by neither (nginx looks
     * up every zone before accounting any): key a gets 3, key b gets 2
     * before the global zone (5 in total) is spent, key c gets 0. */
    start_nginx();
    const char *keys[] = {"a", "a", "a", "a", "b", "b", "b", "c"};
    static const int want[] = {200, 200, 200, 503, 200, 200, 503, 503};
    gwlb_limit_req per[3], global;
    for (int k = 0; k < 3; k++)
        gwlb_limit_req_init(&per[k], 1, GWLB_LIMIT_REQ_PER_MINUTE, 2, GWLB_LIMIT_REQ_NODELAY);
    gwlb_limit_req_init(&global, 1, GWLB_LIMIT_REQ_PER_MINUTE, 4, GWLB_LIMIT_REQ_NODELAY);
    const uint64_t now = UINT64_C(1000000) * GWLB_NS_PER_SEC;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/multi?k=%s", keys[i]);
        int status = http_status(path);
        ck_assert_msg(status == want[i], "request %zu: nginx %d want %d", i, status, want[i]);
        /* Model: check both, then account both (nginx order). */
        gwlb_limit_req *p = &per[keys[i][0] - 'a'];
        uint64_t s1, s2;
        gwlb_limit_result r1, r2;
        gwlb_limit_req_decide(&p->config, p->state, now, &r1, &s1);
        int ok = r1.allowed;
        if (ok) {
            gwlb_limit_req_decide(&global.config, global.state, now, &r2, &s2);
            ok = r2.allowed;
        }
        if (ok) {
            p->state = s1;
            global.state = s2;
        }
        ck_assert_int_eq(ok ? 200 : 503, want[i]);
    }
    stop_nginx();
}
END_TEST


START_TEST(test_real_nginx_delay1_burst2_delays_the_third_and_rejects_the_fourth)
{
    /* limit_req_delay.t's configuration at 1r/m: excess 0 and 1000 pass at
     * once, 2000 is delayed (our model: (2000 - 1000) * 1000 / 16 ms =
     * 62.5 s, so no answer within 500 ms), 3000 > burst is rejected. */
    start_nginx();
    gwlb_limit_req model;
    gwlb_limit_req_init(&model, 1, GWLB_LIMIT_REQ_PER_MINUTE, 2, 1);
    const uint64_t now = UINT64_C(1000000) * GWLB_NS_PER_SEC;
    gwlb_limit_result r;
    ck_assert_int_eq(http_status("/d?k=x"), 200);
    gwlb_limit_req_allow(&model, now, &r);
    ck_assert_uint_eq(r.delay_ns, 0);
    ck_assert_int_eq(http_status("/d?k=x"), 200);
    gwlb_limit_req_allow(&model, now, &r);
    ck_assert_uint_eq(r.delay_ns, 0);
    int pending = test_http_send(0, PORT, "/d?k=x");
    ck_assert_int_ge(pending, 0);
    gwlb_limit_req_allow(&model, now, &r);
    ck_assert_int_eq(r.allowed, 1);
    ck_assert_uint_eq(r.delay_ns, 62500 * GWLB_NS_PER_MS);
    ck_assert_int_eq(answered_within(pending, 500), 0); /* nginx is delaying it */
    ck_assert_int_eq(http_status("/d?k=x"), 503);
    gwlb_limit_req_allow(&model, now, &r);
    ck_assert_int_eq(r.allowed, 0);
    close(pending);
    stop_nginx();
}
END_TEST

static Suite *nginx_suite(void)
{
    Suite *s = suite_create("limiter-nginx");
    TCase *tc = tcase_create("real-nginx");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_real_nginx_burst3_nodelay_1rpm_admits_exactly_burst_plus_one);
    tcase_add_test(tc, test_real_nginx_two_limits_reject_without_counting_the_other);
    tcase_add_test(tc, test_real_nginx_delay1_burst2_delays_the_third_and_rejects_the_fourth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (access(TEST_NGINX, X_OK) != 0) {
        fprintf(stderr, "%s not installed: skipping\n", TEST_NGINX);
        return 77;
    }
    SRunner *sr = srunner_create(nginx_suite());
    srunner_set_fork_status(sr, CK_NOFORK); /* our own child is nginx */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_nginx();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

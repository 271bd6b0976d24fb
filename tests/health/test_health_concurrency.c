/*
 * Concurrency of the health tracker's shared records: threads reporting
 * outcomes while another thread runs outlier passes and drains events, and
 * worker processes (fork) sharing one MAP_SHARED region. Run under
 * ThreadSanitizer by CI (suite 'concurrency').
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gwlb/health.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define THREADS 4
#define REPORTS 20000
#define HOSTS 16

struct worker {
    gwlb_health *h;
    int index;
    uint64_t sent_ok, sent_fail;
};

static void *report_worker(void *arg)
{
    struct worker *w = arg;
    uint64_t s = (uint64_t)w->index * 7919 + 1;
    for (int i = 0; i < REPORTS; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t host = (uint32_t)(s >> 40) % HOSTS;
        /* hosts 0 and 1 fail always, the others 1% of the time */
        int fail = host < 2 || ((s >> 20) % 100) == 0;
        gwlb_health_report_status(w->h, host, fail ? 503 : 200, (uint64_t)i * 1000);
        if (fail)
            w->sent_fail++;
        else
            w->sent_ok++;
    }
    return NULL;
}

START_TEST(test_threads_reporting_lose_no_outcome)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.consecutive_5xx = 0;
    c.consecutive_gateway_failure = 0;
    gwlb_health *h = NULL;
    ck_assert_int_eq(gwlb_health_create(&c, HOSTS, 0, NULL, 0, 0, NULL, &h, NULL), GWLB_OK);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.h = h, .index = i};
        pthread_create(&t[i], NULL, report_worker, &w[i]);
    }
    uint64_t ok = 0, fail = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].sent_ok;
        fail += w[i].sent_fail;
    }
    uint64_t req = 0, succ = 0;
    for (uint32_t i = 0; i < HOSTS; i++) {
        gwlb_health_host_info info;
        gwlb_health_host_get(h, i, &info);
        req += info.interval_requests;
        succ += info.interval_successes;
    }
    ck_assert_uint_eq(req, (uint64_t)THREADS * REPORTS);
    ck_assert_uint_eq(succ, ok);
    ck_assert_uint_eq(req - succ, fail);
    gwlb_health_free(h);
}
END_TEST

struct runner {
    gwlb_health *h;
    volatile int *stop;
    uint64_t events;
};

static void *pass_worker(void *arg)
{
    struct runner *r = arg;
    uint64_t now = 0;
    gwlb_health_event ev[64];
    while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
        now += 10 * SEC;
        int rc = gwlb_health_outlier_run(r->h, now, NULL);
        ck_assert(rc == GWLB_OK || rc == GWLB_EBUSY);
        size_t n;
        gwlb_health_events_drain(r->h, ev, 64, &n);
        r->events += n;
    }
    return NULL;
}

START_TEST(test_ejections_and_passes_race_without_losing_count)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.max_ejection_percent = 100;
    c.base_ejection_time_ns = 10 * SEC;
    c.event_capacity = 1u << 16;
    gwlb_health *h = NULL;
    ck_assert_int_eq(gwlb_health_create(&c, HOSTS, 0, NULL, 0, 0, NULL, &h, NULL), GWLB_OK);
    volatile int stop = 0;
    struct runner r = {.h = h, .stop = &stop};
    pthread_t pt;
    pthread_create(&pt, NULL, pass_worker, &r);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.h = h, .index = i};
        pthread_create(&t[i], NULL, report_worker, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(pt, NULL);
    gwlb_health_event ev[64];
    size_t n;
    do {
        gwlb_health_events_drain(h, ev, 64, &n);
        r.events += n;
    } while (n > 0);

    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    uint32_t ejected = 0;
    for (uint32_t i = 0; i < HOSTS; i++) {
        uint32_t f;
        gwlb_health_host_flags(h, i, &f);
        ejected += (f & GWLB_HOST_EJECTED) != 0;
    }
    ck_assert_uint_eq(s.ejections_active, ejected);
    ck_assert_uint_eq(s.ejections_enforced_total - s.unejections, ejected);
    ck_assert_uint_ge(s.ejections_enforced_total, 1);
    /* every transition was queued exactly once (queue large enough) */
    ck_assert_uint_eq(s.events_dropped, 0);
    ck_assert_uint_eq(r.events, s.ejections_enforced_total + s.unejections);
    gwlb_health_free(h);
}
END_TEST

START_TEST(test_forked_workers_share_one_region)
{
    gwlb_health_config c;
    gwlb_health_config_init(&c);
    c.max_ejection_percent = 100;
    size_t size = gwlb_health_region_size(HOSTS, c.event_capacity);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(mem, MAP_FAILED);
    gwlb_health *h = NULL;
    ck_assert_int_eq(gwlb_health_create(&c, HOSTS, 0, mem, size, 0, NULL, &h, NULL), GWLB_OK);
    pid_t pids[4];
    for (int k = 0; k < 4; k++) {
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0) {
            /* each worker attaches its own handle to the shared records */
            gwlb_health *mine = NULL;
            if (gwlb_health_create(&c, HOSTS, 0, mem, size, GWLB_HEALTH_ATTACH, NULL, &mine,
                                   NULL) != GWLB_OK)
                _exit(2);
            for (int i = 0; i < 1000; i++) {
                /* worker k sends 5xx to host k (1 of 4 workers: never 5 in a row
                 * from one process alone on hosts >= 4) */
                gwlb_health_report_status(mine, (uint32_t)k, 500, SEC);
                gwlb_health_report_status(mine, (uint32_t)(4 + k), 200, SEC);
            }
            gwlb_health_admin_update(mine, (uint32_t)(8 + k), GWLB_HOST_DRAINING, 0, 2 * SEC);
            gwlb_health_free(mine);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++) {
        int st = 0;
        ck_assert_int_eq(waitpid(pids[k], &st, 0), pids[k]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (uint32_t i = 0; i < HOSTS; i++) {
        uint32_t f;
        gwlb_health_host_flags(h, i, &f);
        uint32_t expect = i < 4 ? GWLB_HOST_EJECTED : (i >= 8 && i < 12) ? GWLB_HOST_DRAINING : 0;
        ck_assert_uint_eq(f, expect);
    }
    gwlb_health_host_info info;
    gwlb_health_host_get(h, 5, &info);
    ck_assert_uint_eq(info.interval_requests, 1000);
    gwlb_health_stats s;
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.ejections_active, 4);
    /* the parent drains the events the workers queued */
    gwlb_health_event ev[16];
    size_t n;
    gwlb_health_events_drain(h, ev, 16, &n);
    ck_assert_uint_eq(n, 8);
    int ejections = 0, drains = 0;
    for (size_t i = 0; i < n; i++) {
        ejections += ev[i].cause == GWLB_HEALTH_CAUSE_CONSECUTIVE_5XX && ev[i].host < 4;
        drains += ev[i].cause == GWLB_HEALTH_CAUSE_ADMIN && ev[i].new_flags == GWLB_HOST_DRAINING;
    }
    ck_assert_int_eq(ejections, 4);
    ck_assert_int_eq(drains, 4);
    /* and an outlier pass in the parent unejects them for everyone (ejections
     * were stamped at 1 or 2 s: the latest `now` any worker had reported) */
    ck_assert_int_eq(gwlb_health_outlier_run(h, 32 * SEC, NULL), GWLB_OK);
    gwlb_health_stats_get(h, &s);
    ck_assert_uint_eq(s.ejections_active, 0);
    gwlb_health_free(h);
    munmap(mem, size);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("health_concurrency");
    TCase *tc = tcase_create("shared");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_threads_reporting_lose_no_outcome);
    tcase_add_test(tc, test_ejections_and_passes_race_without_losing_count);
    tcase_add_test(tc, test_forked_workers_share_one_region);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(concurrency_suite());
}

/*
 * Concurrency of the fleet limit state (runs under ThreadSanitizer in CI):
 * threads sharing one gwlb_redis_limit never admit more than the local
 * share between syncs, and cost is conserved between pending, what syncs
 * take and what failed syncs give back.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/redis.h"
#include "test_run.h"

#define THREADS 4
#define CALLS 20000
#define EPOCH UINT64_C(1700000000000000000)

typedef struct shared {
    gwlb_redis_limit_config cfg;
    gwlb_redis_limit limit;
    gwlb_redis_stats stats;
    _Atomic uint64_t admitted;
    _Atomic uint64_t charged; /* what syncs took and kept */
    int syncing;
} shared;

static void *worker(void *arg)
{
    shared *s = arg;
    uint64_t mine = 0;
    uint8_t buf[512];
    for (int i = 0; i < CALLS; i++) {
        gwlb_limit_result r;
        uint32_t v;
        ck_assert_int_eq(gwlb_redis_limit_allow(&s->cfg, &s->limit, EPOCH, 1, &s->stats, &r, &v),
                         GWLB_OK);
        if (v == GWLB_REDIS_DECIDED_LOCALLY && r.allowed)
            mine++;
        if (s->syncing && (i % 16) == 0) {
            size_t n;
            uint64_t taken;
            ck_assert_int_eq(gwlb_redis_limit_encode_sync(&s->cfg, &s->limit, buf, sizeof buf, &n,
                                                          "k", 1, EPOCH, 0, &taken),
                             GWLB_OK);
            if ((i % 32) == 0)
                gwlb_redis_limit_restore(&s->limit, taken); /* a failed sync */
            else
                atomic_fetch_add(&s->charged, taken);
        }
    }
    atomic_fetch_add(&s->admitted, mine);
    return NULL;
}

static void run(shared *s)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, s), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

static void setup(shared *s, uint64_t share)
{
    memset(s, 0, sizeof *s);
    gwlb_gcra_config g;
    /* 1 per us, burst 1e6: the bucket itself never limits at one instant below 1e6 */
    ck_assert_int_eq(gwlb_gcra_config_init(&g, 1000000, UINT64_C(1000000000), 999999), GWLB_OK);
    ck_assert_int_eq(gwlb_redis_limit_config_init(&s->cfg, &g, share, 0, GWLB_REDIS_FAIL_LOCAL),
                     GWLB_OK);
    gwlb_redis_limit_init(&s->limit);
}

START_TEST(test_threads_never_admit_more_than_the_local_share)
{
    static shared s;
    setup(&s, 1000);
    run(&s);
    ck_assert_uint_eq(atomic_load(&s.admitted), 1000);
    ck_assert_uint_eq(s.limit.pending, 1000);
    ck_assert_uint_eq(s.limit.tat, EPOCH + 1000 * UINT64_C(1000));
    ck_assert_uint_eq(s.stats.local_admitted, 1000);
    ck_assert_uint_eq(s.stats.ask_redis, THREADS * CALLS - 1000);
}
END_TEST

START_TEST(test_cost_is_conserved_across_concurrent_syncs)
{
    static shared s;
    setup(&s, 64);
    s.syncing = 1;
    run(&s);
    /* every locally admitted unit is either still pending or was charged */
    ck_assert_uint_eq(atomic_load(&s.admitted), s.limit.pending + atomic_load(&s.charged));
    ck_assert_uint_eq(s.stats.local_admitted, atomic_load(&s.admitted));
    ck_assert_uint_le(s.limit.pending, 64);
    ck_assert_uint_eq(s.limit.tat, EPOCH + atomic_load(&s.admitted) * UINT64_C(1000));
}
END_TEST

int main(void)
{
    Suite *su = suite_create("redis_fleet_concurrency");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_threads_never_admit_more_than_the_local_share);
    tcase_add_test(tc, test_cost_is_conserved_across_concurrent_syncs);
    suite_add_tcase(su, tc);
    return test_run_suite(su);
}

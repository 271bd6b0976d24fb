/*
 * Concurrency of hash picks: threads share one immutable table and one
 * in-flight array (bounded load) and pick / acquire / release at once; every
 * acquire is matched by a release, so all counters end at zero, and no
 * pick ever fails (some host always has room at factor 1.25).
 * Run under ThreadSanitizer in CI (suite 'concurrency').
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb/hashing.h"

#define THREADS 2
#define ROUNDS 100000
#define HOSTS 16

static gwlb_hash_table *table; /* written before the threads start */
static uint32_t inflight[HOSTS];
static uint64_t total;
static gwlb_hash_loads loads = {inflight, &total, HOSTS};

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    uint32_t held[4];
    int nheld = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t key = gwlb_mix64(seed + (uint64_t)r % 64); /* hot keys */
        gwlb_hash_attempt at;
        gwlb_hash_attempt_init(&at, NULL, 0);
        uint32_t h;
        if (gwlb_hash_table_pick_bounded(table, &key, 8, &at, NULL, NULL, &loads, 125, &h) !=
            GWLB_OK)
            return (void *)1;
        if (gwlb_hash_loads_acquire(&loads, h) != GWLB_OK)
            return (void *)1;
        held[nheld++] = h;
        if (nheld == 4) { /* keep a few in flight, release the oldest */
            if (gwlb_hash_loads_release(&loads, held[0]) != GWLB_OK)
                return (void *)1;
            memmove(held, held + 1, 3 * sizeof held[0]);
            nheld = 3;
        }
    }
    while (nheld > 0)
        if (gwlb_hash_loads_release(&loads, held[--nheld]) != GWLB_OK)
            return (void *)1;
    return NULL;
}

START_TEST(test_threads_pick_acquire_release_and_counts_return_to_zero)
{
    static char ids[HOSTS][16];
    gwlb_hash_host h[HOSTS];
    for (int i = 0; i < HOSTS; i++) {
        snprintf(ids[i], sizeof ids[i], "10.0.0.%d:80", i);
        h[i].identity = ids[i];
        h[i].identity_len = (uint32_t)strlen(ids[i]);
        h[i].weight = 1;
    }
    gwlb_hash_config c;
    gwlb_hash_config_init(&c, GWLB_HASH_MAGLEV);
    ck_assert_int_eq(gwlb_hash_table_new(&table, &c, h, HOSTS, NULL, NULL), GWLB_OK);
    pthread_t th[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, (void *)(i * 1000)), 0);
    for (int i = 0; i < THREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        ck_assert_ptr_null(rv);
    }
    ck_assert_uint_eq(total, 0);
    for (int i = 0; i < HOSTS; i++)
        ck_assert_uint_eq(inflight[i], 0);
    gwlb_hash_table_free(table);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hashing-concurrency");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_pick_acquire_release_and_counts_return_to_zero);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

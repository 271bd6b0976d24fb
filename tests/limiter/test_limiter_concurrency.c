/*
 * Concurrency proof: several processes (fork, MAP_SHARED) and threads
 * hammer one limiter for a fixed simulated time; the number admitted is
 * exactly what one caller alone would get: rate x time + limit (limit =
 * burst + 1 in redis-cell's terms, the requests a full bucket admits at
 * once). All callers step simulated time together through a barrier, so
 * every attempt in a tick sees the same `now`; within a tick the CAS
 * decides who wins, and the total cannot depend on that order.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gwlb/limiter.h"
#include "test_run.h"

#define MS GWLB_NS_PER_MS
#define SEC GWLB_NS_PER_SEC
#define T0 (UINT64_C(777) * SEC)

typedef struct shared {
    pthread_barrier_t barrier;
    gwlb_gcra bucket;
    _Atomic uint64_t admitted;
    _Atomic uint64_t key_admitted[64];
    _Alignas(64) unsigned char table_mem[GWLB_LIMITER_TABLE_HEADER + 64 * GWLB_LIMITER_TABLE_BUCKET];
} shared;

static shared *map_shared(int parties)
{
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(sh, MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    ck_assert_int_eq(pthread_barrier_init(&sh->barrier, &attr, (unsigned)parties), 0);
    pthread_barrierattr_destroy(&attr);
    return sh;
}

static void unmap_shared(shared *sh)
{
    pthread_barrier_destroy(&sh->barrier);
    munmap(sh, sizeof *sh);
}

/* 10 s of simulated time in 1 ms ticks, 3 attempts per caller per tick. */
#define TICKS 10000
#define ATTEMPTS 3

static void hammer_bucket(shared *sh)
{
    uint64_t mine = 0;
    for (uint64_t tick = 0; tick <= TICKS; tick++) {
        pthread_barrier_wait(&sh->barrier);
        for (int a = 0; a < ATTEMPTS; a++) {
            gwlb_limit_result r;
            gwlb_gcra_allow(&sh->bucket, T0 + tick * MS, 1, &r);
            mine += (uint64_t)r.allowed;
        }
    }
    atomic_fetch_add(&sh->admitted, mine);
}

static void run_processes(shared *sh, int procs, void (*fn)(shared *))
{
    pid_t pids[16];
    for (int p = 0; p < procs; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            fn(sh);
            _exit(0);
        }
    }
    for (int p = 0; p < procs; p++) {
        int st;
        ck_assert_int_eq(waitpid(pids[p], &st, 0), pids[p]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

START_TEST(test_four_processes_on_one_shared_bucket_admit_rate_times_time_plus_limit)
{
    shared *sh = map_shared(4);
    /* 100 per second (T = 10 ms), burst 9 (limit 10) */
    ck_assert_int_eq(gwlb_gcra_init(&sh->bucket, 100, SEC, 9), GWLB_OK);
    run_processes(sh, 4, hammer_bucket);
    /* 10 at t = 0, then one per 10 ms up to t = 10 s: 100 * 10 + 10 */
    ck_assert_uint_eq(atomic_load(&sh->admitted), 1010);
    ck_assert_uint_eq(gwlb_gcra_tat(&sh->bucket), T0 + 10 * SEC + 100 * MS);
    unmap_shared(sh);
}
END_TEST

/* Keyed table in MAP_SHARED memory: 64 keys, 4 processes, 1 s of 1 ms ticks. */
static void hammer_table(shared *sh)
{
    gwlb_limiter_table *t;
    ck_assert_int_eq(gwlb_limiter_table_attach(sh->table_mem, sizeof sh->table_mem, &t), GWLB_OK);
    uint64_t mine[64] = {0};
    for (uint64_t tick = 0; tick <= 1000; tick++) {
        pthread_barrier_wait(&sh->barrier);
        for (uint64_t k = 0; k < 64; k++) {
            gwlb_limit_result r;
            uint64_t key = k * 7919 + 1;
            gwlb_limiter_table_allow(t, &key, sizeof key, T0 + tick * MS, 1, &r);
            mine[k] += (uint64_t)r.allowed;
        }
    }
    for (int k = 0; k < 64; k++)
        atomic_fetch_add(&sh->key_admitted[k], mine[k]);
}

START_TEST(test_four_processes_share_a_keyed_table_in_map_shared_memory)
{
    shared *sh = map_shared(4);
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_GCRA;
    gwlb_gcra_config_init(&p.u.gcra, 10, SEC, 4); /* T = 100 ms, limit 5 */
    static const uint8_t hkey[16] = {42};
    gwlb_limiter_table *t;
    /* 64 buckets = 256 slots for 64 keys: no eviction, so counts are exact. */
    ck_assert_int_eq(gwlb_limiter_table_init(sh->table_mem, sizeof sh->table_mem, &p, hkey, &t),
                     GWLB_OK);
    run_processes(sh, 4, hammer_table);
    for (int k = 0; k < 64; k++)
        ck_assert_uint_eq(atomic_load(&sh->key_admitted[k]), 5 + 10); /* limit + 10/s x 1 s */
    gwlb_limiter_table_stats st;
    gwlb_limiter_table_stats_get(t, &st);
    ck_assert_uint_eq(st.used, 64);
    ck_assert_uint_eq(st.evicted_fresh + st.evicted_live, 0);
    unmap_shared(sh);
}
END_TEST

/*
 * Same fresh keys, same instant: every party inserts the same 64 new keys
 * in the same order at the same `now`, round after round on a freshly
 * formatted table. Limit 1 per key (burst 0, 1 per hour): exactly one
 * admission per key per round, one slot per key, no eviction. A racy
 * insert shows up as two slots for a key (used > 64, inserts > 64) or as a
 * second admission (the new state word reset after another party used it).
 */
#define RACE_ROUNDS 400
#define RACE_KEYS 64

typedef struct race {
    pthread_barrier_t barrier;
    _Atomic uint64_t admitted[RACE_KEYS];
    _Atomic uint64_t bad_rounds;     /* rounds with a wrong count anywhere */
    _Atomic uint64_t total_admitted; /* over all rounds */
    gwlb_limiter_policy policy;
    _Alignas(64) unsigned char mem[GWLB_LIMITER_TABLE_HEADER + 64 * GWLB_LIMITER_TABLE_BUCKET];
} race;

static race *race_new(int parties)
{
    race *rc = mmap(NULL, sizeof *rc, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(rc, MAP_FAILED);
    memset(rc, 0, sizeof *rc);
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    ck_assert_int_eq(pthread_barrier_init(&rc->barrier, &attr, (unsigned)parties), 0);
    pthread_barrierattr_destroy(&attr);
    rc->policy.kind = GWLB_LIMITER_GCRA;
    gwlb_gcra_config_init(&rc->policy.u.gcra, 1, 3600 * SEC, 0); /* limit 1 */
    return rc;
}

/* Party 0 formats the table before and checks it after every round. */
static void race_party(race *rc, int party)
{
    static const uint8_t hkey[16] = {7, 1, 9};
    for (uint64_t round = 0; round < RACE_ROUNDS; round++) {
        gwlb_limiter_table *t;
        if (party == 0) {
            ck_assert_int_eq(
                gwlb_limiter_table_init(rc->mem, sizeof rc->mem, &rc->policy, hkey, &t), GWLB_OK);
            for (int k = 0; k < RACE_KEYS; k++)
                atomic_store(&rc->admitted[k], 0);
        }
        pthread_barrier_wait(&rc->barrier);
        ck_assert_int_eq(gwlb_limiter_table_attach(rc->mem, sizeof rc->mem, &t), GWLB_OK);
        uint64_t now = T0 + round * SEC;
        for (uint64_t k = 0; k < RACE_KEYS; k++) {
            uint64_t key = round * 1000003 + k; /* never seen before */
            gwlb_limit_result r;
            ck_assert_int_eq(gwlb_limiter_table_allow(t, &key, sizeof key, now, 1, &r), GWLB_OK);
            if (r.allowed)
                atomic_fetch_add(&rc->admitted[k], 1);
        }
        pthread_barrier_wait(&rc->barrier);
        if (party == 0) {
            gwlb_limiter_table_stats st;
            ck_assert_int_eq(gwlb_limiter_table_stats_get(t, &st), GWLB_OK);
            int bad = st.used != RACE_KEYS || st.inserts != RACE_KEYS ||
                      st.evicted_fresh + st.evicted_live != 0;
            for (int k = 0; k < RACE_KEYS; k++) {
                uint64_t a = atomic_load(&rc->admitted[k]);
                bad |= a != 1;
                atomic_fetch_add(&rc->total_admitted, a);
            }
            atomic_fetch_add(&rc->bad_rounds, (uint64_t)bad);
        }
    }
}

static race *race_shared;

static void race_process(int party)
{
    race_party(race_shared, party);
}

START_TEST(test_four_processes_inserting_the_same_new_keys_at_once_get_one_slot_each)
{
    race_shared = race_new(4);
    pid_t pids[4];
    for (int p = 0; p < 4; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            race_process(p);
            _exit(0);
        }
    }
    for (int p = 0; p < 4; p++) {
        int st;
        ck_assert_int_eq(waitpid(pids[p], &st, 0), pids[p]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    ck_assert_uint_eq(atomic_load(&race_shared->bad_rounds), 0);
    ck_assert_uint_eq(atomic_load(&race_shared->total_admitted), RACE_ROUNDS * RACE_KEYS);
    pthread_barrier_destroy(&race_shared->barrier);
    munmap(race_shared, sizeof *race_shared);
}
END_TEST

typedef struct race_thread_arg {
    race *rc;
    int party;
} race_thread_arg;

static void *race_thread(void *p)
{
    race_thread_arg *a = p;
    race_party(a->rc, a->party);
    return NULL;
}

START_TEST(test_four_threads_inserting_the_same_new_keys_at_once_get_one_slot_each)
{
    race *rc = race_new(4);
    pthread_t th[4];
    race_thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (race_thread_arg){rc, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(atomic_load(&rc->bad_rounds), 0);
    ck_assert_uint_eq(atomic_load(&rc->total_admitted), RACE_ROUNDS * RACE_KEYS);
    pthread_barrier_destroy(&rc->barrier);
    munmap(rc, sizeof *rc);
}
END_TEST

/* ---- threads (what ThreadSanitizer checks) ---------------------------- */

static void *thread_bucket(void *arg)
{
    hammer_bucket(arg);
    return NULL;
}

START_TEST(test_two_threads_on_one_bucket_admit_rate_times_time_plus_limit)
{
    shared *sh = map_shared(2);
    gwlb_gcra_init(&sh->bucket, 100, SEC, 9);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_bucket, sh), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(atomic_load(&sh->admitted), 1010);
    unmap_shared(sh);
}
END_TEST

typedef struct conc_arg {
    gwlb_concurrency limit;
    _Atomic uint64_t inside;
    _Atomic uint64_t max_seen;
    _Atomic uint64_t admitted;
} conc_arg;

static void *thread_concurrency(void *p)
{
    conc_arg *c = p;
    for (int i = 0; i < 100000; i++) {
        gwlb_limit_result r;
        gwlb_concurrency_acquire(&c->limit, &r);
        if (!r.allowed)
            continue;
        uint64_t in = atomic_fetch_add(&c->inside, 1) + 1;
        uint64_t m = atomic_load(&c->max_seen);
        while (in > m && !atomic_compare_exchange_weak(&c->max_seen, &m, in)) {
        }
        atomic_fetch_add(&c->admitted, 1);
        atomic_fetch_sub(&c->inside, 1);
        ck_assert_int_eq(gwlb_concurrency_release(&c->limit), GWLB_OK);
    }
    return NULL;
}

START_TEST(test_two_threads_never_exceed_the_concurrency_limit)
{
    static conc_arg c;
    memset(&c, 0, sizeof c);
    gwlb_concurrency_init(&c.limit, 1);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_concurrency, &c), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(atomic_load(&c.max_seen), 1);
    ck_assert_uint_ge(atomic_load(&c.admitted), 1);
    ck_assert_uint_eq(gwlb_concurrency_in_flight(&c.limit), 0);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("limiter-concurrency");
    TCase *procs = tcase_create("processes");
    tcase_set_timeout(procs, 240);
    tcase_add_test(procs, test_four_processes_on_one_shared_bucket_admit_rate_times_time_plus_limit);
    tcase_add_test(procs, test_four_processes_share_a_keyed_table_in_map_shared_memory);
    tcase_add_test(procs, test_four_processes_inserting_the_same_new_keys_at_once_get_one_slot_each);
    suite_add_tcase(s, procs);
    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 240);
    tcase_add_test(threads, test_two_threads_on_one_bucket_admit_rate_times_time_plus_limit);
    tcase_add_test(threads, test_two_threads_never_exceed_the_concurrency_limit);
    tcase_add_test(threads, test_four_threads_inserting_the_same_new_keys_at_once_get_one_slot_each);
    suite_add_tcase(s, threads);
    return s;
}

int main(void)
{
    return test_run_suite(concurrency_suite());
}

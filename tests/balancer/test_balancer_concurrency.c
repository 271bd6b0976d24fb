/*
 * Concurrency of the balancer's runtime state: processes sharing a
 * MAP_SHARED region (each building its own balancer, as nginx workers
 * would), and threads picking/releasing while the host list is swapped.
 * Run under ThreadSanitizer by CI (suite 'concurrency').
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balancer/balancer_internal.h"
#include "gwlb.h"
#include "test_run.h"

#define NHOSTS 8
static char ids[16][32];

static void hosts_fill(gwlb_balancer_host *h, int first, int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(ids[first + i], sizeof ids[first + i], "10.1.0.%d:8080", first + i + 1);
        gwlb_balancer_host_init(&h[i], ids[first + i]);
        h[i].weight = (uint32_t)(1 + (first + i) % 3);
        h[i].max_fails = 0;
    }
}

static gwlb_balancer *build(gwlb_balancer_state *st, int alg, const gwlb_balancer_host *h, int n,
                            uint64_t seed)
{
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.seed = seed;
    gwlb_balancer *b = NULL;
    ck_assert_int_eq(gwlb_balancer_build(&c, h, (uint32_t)n, st, 0, &b, NULL), GWLB_OK);
    return b;
}

/* Child: pick/release `iters` times, hold up to 4 in flight; exit 0 iff all calls succeeded. */
static int child_work(gwlb_balancer_state *st, int alg, int seed, long iters)
{
    gwlb_balancer_host h[NHOSTS];
    hosts_fill(h, 0, NHOSTS);
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.seed = (uint64_t)seed;
    gwlb_balancer *b = NULL;
    if (gwlb_balancer_build(&c, h, NHOSTS, st, 0, &b, NULL) != GWLB_OK)
        return 2;
    gwlb_balancer_result held[4];
    int nheld = 0, bad = 0;
    for (long i = 0; i < iters; i++) {
        if (nheld == 4) {
            int k = (int)(i % 4);
            bad |= gwlb_balancer_release(b, &held[k], (i & 15) ? GWLB_BALANCER_SUCCESS
                                                               : GWLB_BALANCER_FAILURE,
                                         (int64_t)(i % 1000) * 1000, (uint64_t)i) != GWLB_OK;
            held[k] = held[--nheld];
        }
        bad |= gwlb_balancer_pick(b, (uint64_t)i, &held[nheld++]) != GWLB_OK;
    }
    while (nheld > 0)
        bad |= gwlb_balancer_release(b, &held[--nheld], GWLB_BALANCER_SUCCESS, 0, 0) != GWLB_OK;
    gwlb_balancer_free(b);
    return bad ? 1 : 0;
}

static void fork_run(int alg)
{
    enum { PROCS = 3 };
    const long iters = 200000;
    size_t sz = gwlb_balancer_state_size(32);
    void *mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(mem, MAP_FAILED);
    gwlb_balancer_state *st;
    ck_assert_int_eq(gwlb_balancer_state_init(mem, sz, 32, &st), GWLB_OK);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0)
            _exit(child_work(st, alg, p + 1, iters));
    }
    int parent = child_work(st, alg, 99, iters);
    ck_assert_int_eq(parent, 0);
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    /* every process found the same slots: one per identity, no leftovers */
    ck_assert_uint_eq(st->h.slots_used, NHOSTS);
    uint64_t failures = 0;
    int64_t current_sum = 0;
    for (uint32_t s = 0; s < 32; s++) {
        ck_assert_uint_eq(st->slots[s].in_flight, 0);
        ck_assert_uint_eq(st->slots[s].owner & GWLB__OWNER_REFS_MASK, 0);
        failures += st->slots[s].failures;
        current_sum += st->slots[s].current_weight;
    }
    /* every 16th release (i = 16, 32, ... < iters) reports a failure: none lost */
    ck_assert_uint_eq(failures, (uint64_t)(PROCS + 1) * (uint64_t)((iters - 1) / 16));
    /* smooth WRR: every pick adds `total` and subtracts it: the sum stays 0 */
    ck_assert_int_eq(current_sum, 0);
    munmap(mem, sz);
}

START_TEST(test_forked_processes_share_state_and_lose_nothing_p2c)
{
    fork_run(GWLB_BALANCER_LEAST_REQUEST);
}
END_TEST

START_TEST(test_forked_processes_share_state_and_lose_nothing_swrr)
{
    fork_run(GWLB_BALANCER_NGINX_ROUND_ROBIN);
}
END_TEST

START_TEST(test_forked_processes_share_state_and_lose_nothing_wrr)
{
    fork_run(GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
}
END_TEST

/* ---- threads with a host-list swap in the middle ---------------------------------- */

typedef struct shared {
    gwlb_balancer *current;      /* swapped with gwlb_balancer_swap */
    _Atomic uint64_t passes[2];  /* per-thread iteration counters (grace period) */
    _Atomic int errors;
    long iters;
} shared;

typedef struct worker_arg {
    shared *sh;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *wa = p;
    shared *sh = wa->sh;
    gwlb_balancer_result held[3];
    int nheld = 0;
    for (long i = 0; i < sh->iters; i++) {
        gwlb_balancer *b = gwlb_balancer_load(&sh->current);
        if (nheld == 3) {
            if (gwlb_balancer_release(b, &held[0], GWLB_BALANCER_SUCCESS, 1000, (uint64_t)i) !=
                GWLB_OK)
                atomic_fetch_add(&sh->errors, 1);
            held[0] = held[1];
            held[1] = held[2];
            nheld = 2;
        }
        if (gwlb_balancer_pick(b, (uint64_t)i, &held[nheld]) == GWLB_OK)
            nheld++;
        else
            atomic_fetch_add(&sh->errors, 1);
        atomic_store_explicit(&sh->passes[wa->id], (uint64_t)i + 1, memory_order_release);
    }
    gwlb_balancer *b = gwlb_balancer_load(&sh->current);
    while (nheld > 0)
        if (gwlb_balancer_release(b, &held[--nheld], GWLB_BALANCER_SUCCESS, 0, 0) != GWLB_OK)
            atomic_fetch_add(&sh->errors, 1);
    atomic_store_explicit(&sh->passes[wa->id], UINT64_MAX, memory_order_release);
    return NULL;
}

static void threads_run_mode(int alg, long iters, int incremental)
{
    gwlb_balancer_state *st;
    ck_assert_int_eq(gwlb_balancer_state_new(32, NULL, &st), GWLB_OK);
    gwlb_balancer_host h[12];
    hosts_fill(h, 0, 12);
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.iters = iters;
    gwlb_balancer *b1 = build(st, alg, h, NHOSTS, 1);
    gwlb_balancer_swap(&sh.current, b1);
    pthread_t t[2];
    worker_arg wa[2] = {{&sh, 0}, {&sh, 1}};
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &wa[i]), 0);
    /* wait until both are well under way (bounded by their own progress) */
    while (atomic_load(&sh.passes[0]) < (uint64_t)iters / 2 &&
           atomic_load(&sh.passes[0]) != UINT64_MAX)
        sched_yield();
    gwlb_balancer *b2;
    if (incremental) {
        /* gwlb_balancer_rebuild from the live balancer: hosts 0..7 with one
         * weight changed, then 8 and 9 added (picks on b1 keep running) */
        gwlb_balancer_config c;
        gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
        c.seed = 2;
        h[3].weight += 5;
        b2 = NULL;
        ck_assert_int_eq(gwlb_balancer_rebuild(b1, &c, h, 10, 0, &b2, NULL), GWLB_OK);
    } else {
        /* new host list: hosts 4..11 (0..3 removed with requests in flight) */
        b2 = build(st, alg, h + 4, 8, 2);
    }
    gwlb_balancer *old = gwlb_balancer_swap(&sh.current, b2);
    ck_assert_ptr_eq(old, b1);
    /* grace period: each worker finished an iteration that started after the swap */
    uint64_t mark[2] = {atomic_load(&sh.passes[0]), atomic_load(&sh.passes[1])};
    for (int i = 0; i < 2; i++)
        while (atomic_load(&sh.passes[i]) != UINT64_MAX &&
               atomic_load(&sh.passes[i]) < mark[i] + 2)
            sched_yield();
    gwlb_balancer_free(old);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&sh.errors), 0);
    for (uint32_t s = 0; s < 32; s++)
        ck_assert_uint_eq(st->slots[s].in_flight, 0);
    gwlb_balancer_free(gwlb_balancer_swap(&sh.current, NULL));
    for (uint32_t s = 0; s < 32; s++) /* every slot reference dropped exactly once */
        ck_assert_uint_eq(st->slots[s].owner & GWLB__OWNER_REFS_MASK, 0);
    gwlb_balancer_state_free(st);
}

static void threads_run(int alg, long iters)
{
    threads_run_mode(alg, iters, 0);
}

START_TEST(test_two_threads_pick_release_1e6_with_host_list_swap_p2c)
{
    threads_run(GWLB_BALANCER_LEAST_REQUEST, 1000000);
}
END_TEST

START_TEST(test_two_threads_with_host_list_swap_other_algorithms)
{
    threads_run(GWLB_BALANCER_NGINX_ROUND_ROBIN, 100000);
    threads_run(GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, 100000);
    threads_run(GWLB_BALANCER_PEAK_EWMA, 100000);
    threads_run(GWLB_BALANCER_LEAST_CONN, 100000);
    threads_run(GWLB_BALANCER_RANDOM_TWO_CHOICES, 100000);
}
END_TEST

START_TEST(test_two_threads_pick_while_the_balancer_is_rebuilt_incrementally)
{
    threads_run_mode(GWLB_BALANCER_LEAST_REQUEST, 200000, 1);
    threads_run_mode(GWLB_BALANCER_NGINX_ROUND_ROBIN, 100000, 1);
    threads_run_mode(GWLB_BALANCER_ROUND_ROBIN, 100000, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balancer_concurrency");
    TCase *t = tcase_create("processes");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_forked_processes_share_state_and_lose_nothing_p2c);
    tcase_add_test(t, test_forked_processes_share_state_and_lose_nothing_swrr);
    tcase_add_test(t, test_forked_processes_share_state_and_lose_nothing_wrr);
    suite_add_tcase(s, t);
    t = tcase_create("threads");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_two_threads_pick_release_1e6_with_host_list_swap_p2c);
    tcase_add_test(t, test_two_threads_with_host_list_swap_other_algorithms);
    tcase_add_test(t, test_two_threads_pick_while_the_balancer_is_rebuilt_incrementally);
    suite_add_tcase(s, t);
    return test_run_suite(s);
}

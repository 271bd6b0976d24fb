/*
 * Concurrency specification of the breaker component: two threads, and two
 * forked processes sharing a MAP_SHARED mapping, hammer one breaker (and
 * the resource limits and retry budget); counts must come out exact and a
 * half-open breaker must never admit more probes than its permits; an
 * exclusive-mode breaker's single writer races with no reader. Run
 * under ThreadSanitizer in CI (suite 'concurrency').
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

#include "gwlb/breaker.h"
#include "test_run.h"

#define SEC GWLB_NS_PER_SEC
#define T0 (1000 * SEC)
#define N_PER_WORKER 1000000

/* Everything the workers share lives in one struct so that the same code
 * runs with threads (static memory) and processes (a MAP_SHARED mapping). */
typedef struct shared {
    gwlb_breaker breaker;
    gwlb_resources resources;
    gwlb_retry_budget budget;
    _Atomic int64_t inflight;
    _Atomic int64_t max_inflight;
    _Atomic int64_t errors;
    _Atomic int64_t admitted;
    _Atomic int64_t withdrawn;
    _Atomic uint64_t clock;
    _Atomic int64_t attempts;
} shared;

static gwlb_breaker_config g_cfg;
static gwlb_resource_config g_rcfg;
static gwlb_retry_budget_config g_bcfg;

static shared *map_shared(void)
{
    void *p = mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                   0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, sizeof(shared));
    return p;
}

static void note_error(shared *sh)
{
    atomic_fetch_add(&sh->errors, 1);
}

/* ---- workers ------------------------------------------------------------- */

/* Worker w records N outcomes: every 3rd a failure, every 5th slow. */
static void record_worker(shared *sh, int w)
{
    for (int i = 0; i < N_PER_WORKER; i++) {
        uint64_t t;
        uint64_t now = T0 + (uint64_t)i * 1000u;
        if (gwlb_breaker_allow(&sh->breaker, &g_cfg, now, &t) != 0) {
            note_error(sh);
            continue;
        }
        int outcome = (i % 3 == w) ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS;
        uint64_t dur = (i % 5 == 0) ? 3 * SEC : 1000;
        if (gwlb_breaker_record(&sh->breaker, &g_cfg, t, outcome, dur, now) != 0)
            note_error(sh);
    }
}

/* Probe hammering in half-open: every admitted probe is "in flight" until
 * it returns its permit with an ignored outcome. */
static void probe_worker(shared *sh, int w)
{
    (void)w;
    for (int i = 0; i < N_PER_WORKER / 4; i++) {
        uint64_t t;
        int rc = gwlb_breaker_allow(&sh->breaker, &g_cfg, T0, &t);
        if (rc == GWLB_BREAKER_REJECT_HALF_OPEN_FULL)
            continue;
        if (rc != 0) {
            note_error(sh);
            continue;
        }
        atomic_fetch_add(&sh->admitted, 1);
        int64_t now_in = atomic_fetch_add(&sh->inflight, 1) + 1;
        int64_t m = atomic_load(&sh->max_inflight);
        while (now_in > m && !atomic_compare_exchange_weak(&sh->max_inflight, &m, now_in))
            ;
        atomic_fetch_sub(&sh->inflight, 1);
        if (gwlb_breaker_record(&sh->breaker, &g_cfg, t, GWLB_BREAKER_IGNORED, 0, T0) != 0)
            note_error(sh);
    }
}

/* Probes that never come back: only `permits` may ever be admitted. */
static void grab_worker(shared *sh, int w)
{
    (void)w;
    for (int i = 0; i < 100000; i++) {
        uint64_t t;
        int rc = gwlb_breaker_allow(&sh->breaker, &g_cfg, T0, &t);
        if (rc == 0)
            atomic_fetch_add(&sh->admitted, 1);
        else if (rc != GWLB_BREAKER_REJECT_HALF_OPEN_FULL)
            note_error(sh);
    }
}

/* Flapping: trips, waits, probes and closes again and again while both
 * workers hammer it; every admitted call is recorded exactly once. */
static void flap_worker(shared *sh, int w)
{
    for (int i = 0; i < 200000; i++) {
        uint64_t now = atomic_fetch_add(&sh->clock, 10);
        uint64_t t;
        atomic_fetch_add(&sh->attempts, 1);
        int rc = gwlb_breaker_allow(&sh->breaker, &g_cfg, now, &t);
        if (rc > 0)
            continue;
        if (rc != 0) {
            note_error(sh);
            continue;
        }
        int outcome = ((i + w) % 5 < 2) ? GWLB_BREAKER_FAILURE
                      : (i % 7 == 0)     ? GWLB_BREAKER_IGNORED
                                         : GWLB_BREAKER_SUCCESS;
        rc = gwlb_breaker_record(&sh->breaker, &g_cfg, t, outcome, 0, now + 5);
        if (rc != 0 && rc != GWLB_EUNKNOWN)
            note_error(sh);
    }
}

static void setup_flapping(shared *sh)
{
    gwlb_breaker_config_init(&g_cfg);
    g_cfg.consecutive_failures = 2;
    g_cfg.open_wait_ns = 200;
    g_cfg.half_open_permits = 2;
    g_cfg.half_open_successes = 2;
    g_cfg.half_open_max_wait_ns = 1000;
    ck_assert_int_eq(gwlb_breaker_init(&sh->breaker, &g_cfg, 1, NULL), 0);
    atomic_store(&sh->clock, T0);
}

static void check_flapping(shared *sh)
{
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    gwlb_breaker_stats st;
    gwlb_breaker_get_stats(&sh->breaker, &g_cfg, atomic_load(&sh->clock), &st);
    ck_assert_uint_eq(st.admitted + st.rejected, (uint64_t)atomic_load(&sh->attempts));
    ck_assert_uint_eq(st.admitted, st.successes + st.failures + st.ignored + st.stale_results);
    ck_assert_uint_gt(st.times_opened, 10);
    ck_assert_uint_gt(st.transitions, 30);
}


static void resource_worker(shared *sh, int w)
{
    (void)w;
    for (int i = 0; i < N_PER_WORKER; i++) {
        int rc = gwlb_resources_acquire(&sh->resources, &g_rcfg, GWLB_RESOURCE_REQUESTS);
        if (rc == GWLB_ELIMIT)
            continue;
        if (rc != 0) {
            note_error(sh);
            continue;
        }
        int64_t now_in = atomic_fetch_add(&sh->inflight, 1) + 1;
        int64_t m = atomic_load(&sh->max_inflight);
        while (now_in > m && !atomic_compare_exchange_weak(&sh->max_inflight, &m, now_in))
            ;
        atomic_fetch_add(&sh->admitted, 1);
        atomic_fetch_sub(&sh->inflight, 1);
        if (gwlb_resources_release(&sh->resources, GWLB_RESOURCE_REQUESTS) != 0)
            note_error(sh);
    }
}

/* Every acquire is followed by two releases, the second one a host bug: the
 * refused releases must put their unit back, so the successful releases
 * equal the successful acquires and the count ends at zero. (An acquire
 * made while a refused release is putting its unit back sees the resource
 * as full: it is refused and counted as an overflow, as documented.) */
static void bogus_release_worker(shared *sh, int w)
{
    (void)w;
    for (int i = 0; i < N_PER_WORKER / 4; i++) {
        int rc = gwlb_resources_acquire(&sh->resources, &g_rcfg, GWLB_RESOURCE_PENDING);
        if (rc == GWLB_ELIMIT) {
            atomic_fetch_add(&sh->attempts, 1);
            continue;
        }
        if (rc != 0) {
            note_error(sh);
            continue;
        }
        atomic_fetch_add(&sh->admitted, 1);
        for (int k = 0; k < 2; k++) {
            int rc = gwlb_resources_release(&sh->resources, GWLB_RESOURCE_PENDING);
            if (rc == 0)
                atomic_fetch_add(&sh->withdrawn, 1);
            else if (rc != GWLB_ESTATE)
                note_error(sh);
        }
    }
}

static void budget_worker(shared *sh, int w)
{
    (void)w;
    for (int i = 0; i < 200000; i++) {
        int rc = gwlb_retry_budget_withdraw(&sh->budget, &g_bcfg, T0);
        if (rc == 0)
            atomic_fetch_add(&sh->withdrawn, 1);
        else if (rc != GWLB_ELIMIT)
            note_error(sh);
    }
}

/* ---- running workers as threads or as processes --------------------------- */

typedef void (*worker_fn)(shared *, int);
typedef struct targ {
    worker_fn fn;
    shared *sh;
    int w;
} targ;

static void *thread_main(void *p)
{
    targ *a = p;
    a->fn(a->sh, a->w);
    return NULL;
}

static void run_threads(worker_fn fn, shared *sh)
{
    pthread_t th[2];
    targ a[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (targ){fn, sh, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
}

static void run_processes(worker_fn fn, shared *sh)
{
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            fn(sh, i);
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

START_TEST(test_flapping_breaker_records_every_admitted_call_once)
{
    shared *sh = map_shared();
    setup_flapping(sh);
    run_threads(flap_worker, sh);
    check_flapping(sh);
    memset(sh, 0, sizeof *sh);
    setup_flapping(sh);
    run_processes(flap_worker, sh);
    check_flapping(sh);
    munmap(sh, sizeof *sh);
}
END_TEST

/* ---- record counts ---------------------------------------------------------- */

static void setup_record_config(void)
{
    gwlb_breaker_config_init_resilience4j(&g_cfg);
    g_cfg.failure_rate_percent = 90; /* 1/3 failures never reach it */
    g_cfg.slow_call_rate_percent = 90;
    g_cfg.slow_call_ns = 2 * SEC;
    g_cfg.consecutive_failures = 1000000;
}

static void check_record_counts(shared *sh)
{
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    gwlb_breaker_stats st;
    ck_assert_int_eq(gwlb_breaker_get_stats(&sh->breaker, &g_cfg, T0, &st), 0);
    ck_assert_int_eq(st.state, GWLB_BREAKER_CLOSED);
    /* each worker fails exactly the i with i % 3 == w: 333334 for w = 0, 333333 for w = 1 */
    ck_assert_uint_eq(st.admitted, 2 * N_PER_WORKER);
    ck_assert_uint_eq(st.failures, 333334 + 333333);
    ck_assert_uint_eq(st.successes, 2 * N_PER_WORKER - (333334 + 333333));
    ck_assert_uint_eq(st.slow_calls, 2 * 200000);
    ck_assert_uint_eq(st.stale_results, 0);
    ck_assert_uint_eq(st.window_calls, 100);
    gwlb_breaker_counts c;
    gwlb_breaker_get_counts(&sh->breaker, &c);
    ck_assert_uint_eq(c.requests, 2 * N_PER_WORKER);
    ck_assert_uint_eq(c.total_failures, 333334 + 333333);
}

START_TEST(test_two_threads_record_a_million_outcomes_each_exactly)
{
    setup_record_config();
    shared *sh = map_shared();
    ck_assert_int_eq(gwlb_breaker_init(&sh->breaker, &g_cfg, 1, NULL), 0);
    run_threads(record_worker, sh);
    check_record_counts(sh);
    munmap(sh, sizeof *sh);
}
END_TEST

START_TEST(test_two_processes_record_a_million_outcomes_each_exactly)
{
    setup_record_config();
    shared *sh = map_shared();
    ck_assert_int_eq(gwlb_breaker_init(&sh->breaker, &g_cfg, 1, NULL), 0);
    run_processes(record_worker, sh);
    check_record_counts(sh);
    munmap(sh, sizeof *sh);
}
END_TEST

/* ---- half-open permits -------------------------------------------------------- */

static void setup_half_open(shared *sh, uint32_t permits)
{
    gwlb_breaker_config_init(&g_cfg);
    g_cfg.half_open_permits = permits;
    g_cfg.half_open_successes = permits;
    ck_assert_int_eq(gwlb_breaker_init(&sh->breaker, &g_cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_transition(&sh->breaker, &g_cfg, GWLB_BREAKER_HALF_OPEN, T0),
                     0);
}

START_TEST(test_half_open_never_admits_more_than_its_permits_threads)
{
    shared *sh = map_shared();
    setup_half_open(sh, 3);
    run_threads(grab_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_eq(atomic_load(&sh->admitted), 3);
    gwlb_breaker_stats st;
    gwlb_breaker_get_stats(&sh->breaker, &g_cfg, T0, &st);
    ck_assert_uint_eq(st.admitted, 3);
    ck_assert_uint_eq(st.rejected, 2 * 100000 - 3);

    memset(sh, 0, sizeof *sh);
    setup_half_open(sh, 2);
    run_threads(probe_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_le(atomic_load(&sh->max_inflight), 2);
    ck_assert_int_gt(atomic_load(&sh->admitted), 0);
    ck_assert_int_eq(gwlb_breaker_state(&sh->breaker), GWLB_BREAKER_HALF_OPEN);
    munmap(sh, sizeof *sh);
}
END_TEST

START_TEST(test_half_open_never_admits_more_than_its_permits_processes)
{
    shared *sh = map_shared();
    setup_half_open(sh, 3);
    run_processes(grab_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_eq(atomic_load(&sh->admitted), 3);

    memset(sh, 0, sizeof *sh);
    setup_half_open(sh, 2);
    run_processes(probe_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_le(atomic_load(&sh->max_inflight), 2);
    ck_assert_int_gt(atomic_load(&sh->admitted), 0);
    munmap(sh, sizeof *sh);
}
END_TEST

/* ---- resource limits and retry budget ----------------------------------------- */

START_TEST(test_resource_cap_holds_under_two_threads_and_two_processes)
{
    gwlb_resource_config_init(&g_rcfg);
    g_rcfg.max[GWLB_RESOURCE_REQUESTS] = 1;
    shared *sh = map_shared();
    gwlb_resources_init(&sh->resources);
    run_threads(resource_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_eq(atomic_load(&sh->max_inflight), 1);
    ck_assert_uint_eq(gwlb_resources_active(&sh->resources, GWLB_RESOURCE_REQUESTS), 0);
    /* every attempt either took the unit or was counted as an overflow */
    ck_assert_uint_eq((uint64_t)atomic_load(&sh->admitted) +
                          sh->resources.overflows[GWLB_RESOURCE_REQUESTS],
                      2 * N_PER_WORKER);

    memset(sh, 0, sizeof *sh);
    run_processes(resource_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_eq(atomic_load(&sh->max_inflight), 1);
    ck_assert_uint_eq(gwlb_resources_active(&sh->resources, GWLB_RESOURCE_REQUESTS), 0);
    ck_assert_uint_eq((uint64_t)atomic_load(&sh->admitted) +
                          sh->resources.overflows[GWLB_RESOURCE_REQUESTS],
                      2 * N_PER_WORKER);
    munmap(sh, sizeof *sh);
}
END_TEST

static void check_bogus_releases(shared *sh)
{
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_eq(atomic_load(&sh->admitted) + atomic_load(&sh->attempts),
                     2 * (N_PER_WORKER / 4));
    ck_assert_int_eq(atomic_load(&sh->withdrawn), atomic_load(&sh->admitted));
    ck_assert_uint_eq(gwlb_resources_active(&sh->resources, GWLB_RESOURCE_PENDING), 0);
    ck_assert_uint_eq(sh->resources.overflows[GWLB_RESOURCE_PENDING],
                      (uint64_t)atomic_load(&sh->attempts));
}

START_TEST(test_releases_without_acquire_racing_with_releases_change_no_count)
{
    gwlb_resource_config_init(&g_rcfg);
    g_rcfg.max[GWLB_RESOURCE_PENDING] = 1000;
    shared *sh = map_shared();
    gwlb_resources_init(&sh->resources);
    run_threads(bogus_release_worker, sh);
    check_bogus_releases(sh);
    memset(sh, 0, sizeof *sh);
    run_processes(bogus_release_worker, sh);
    check_bogus_releases(sh);
    munmap(sh, sizeof *sh);
}
END_TEST

START_TEST(test_retry_budget_is_never_overdrawn_concurrently)
{
    gwlb_retry_budget_config_init(&g_bcfg); /* reserve: exactly 100 retries */
    shared *sh = map_shared();
    ck_assert_int_eq(gwlb_retry_budget_init(&sh->budget, &g_bcfg, NULL), 0);
    run_threads(budget_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    ck_assert_int_eq(atomic_load(&sh->withdrawn), 100);

    memset(sh, 0, sizeof *sh);
    ck_assert_int_eq(gwlb_retry_budget_init(&sh->budget, &g_bcfg, NULL), 0);
    run_processes(budget_worker, sh);
    ck_assert_int_eq(atomic_load(&sh->withdrawn), 100);
    munmap(sh, sizeof *sh);
}
END_TEST

/* ---- exclusive mode: one writer, readers elsewhere ------------------------- */

typedef struct excl_shared {
    gwlb_breaker breaker;
    gwlb_resources resources;
    _Atomic int done;
    _Atomic int64_t errors;
} excl_shared;

static void *excl_reader(void *p)
{
    excl_shared *sh = p;
    uint64_t last = 0;
    while (!atomic_load(&sh->done)) {
        gwlb_breaker_stats st;
        gwlb_breaker_get_stats(&sh->breaker, &g_cfg, T0, &st);
        if (st.admitted < last) /* counters only grow */
            atomic_fetch_add(&sh->errors, 1);
        last = st.admitted;
        (void)gwlb_resources_active(&sh->resources, GWLB_RESOURCE_REQUESTS);
    }
    return NULL;
}

/* The single writer of an exclusive breaker races with nobody: stats and
 * counts read from another thread see no data race (checked under TSan)
 * and the writer's counts come out exact. */
START_TEST(test_exclusive_writer_with_concurrent_readers_counts_exactly)
{
    setup_record_config();
    excl_shared *sh = calloc(1, sizeof *sh);
    ck_assert_ptr_nonnull(sh);
    ck_assert_int_eq(gwlb_breaker_init(&sh->breaker, &g_cfg, 1, NULL), 0);
    ck_assert_int_eq(gwlb_breaker_set_exclusive(&sh->breaker, 1), 0);
    gwlb_resource_config_init(&g_rcfg);
    gwlb_resources_init(&sh->resources);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, excl_reader, sh), 0);
    uint64_t failures = 0;
    for (int i = 0; i < N_PER_WORKER / 4; i++) {
        uint64_t t;
        if (gwlb_breaker_allow(&sh->breaker, &g_cfg, T0 + (uint64_t)i, &t) != 0 ||
            gwlb_resources_acquire_exclusive(&sh->resources, &g_rcfg,
                                             GWLB_RESOURCE_REQUESTS) != 0) {
            atomic_fetch_add(&sh->errors, 1);
            continue;
        }
        int fail = i % 3 == 0;
        failures += (uint64_t)fail;
        if (gwlb_breaker_record(&sh->breaker, &g_cfg, t,
                                fail ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS, 1000,
                                T0 + (uint64_t)i) != 0 ||
            gwlb_resources_release_exclusive(&sh->resources, GWLB_RESOURCE_REQUESTS) != 0)
            atomic_fetch_add(&sh->errors, 1);
    }
    atomic_store(&sh->done, 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&sh->errors), 0);
    gwlb_breaker_stats st;
    gwlb_breaker_get_stats(&sh->breaker, &g_cfg, T0, &st);
    ck_assert_uint_eq(st.admitted, N_PER_WORKER / 4);
    ck_assert_uint_eq(st.failures, failures);
    ck_assert_uint_eq(st.successes, N_PER_WORKER / 4 - failures);
    ck_assert_uint_eq(gwlb_resources_active(&sh->resources, GWLB_RESOURCE_REQUESTS), 0);
    free(sh);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("breaker-concurrency");
    TCase *tc = tcase_create("shared");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_two_threads_record_a_million_outcomes_each_exactly);
    tcase_add_test(tc, test_two_processes_record_a_million_outcomes_each_exactly);
    tcase_add_test(tc, test_half_open_never_admits_more_than_its_permits_threads);
    tcase_add_test(tc, test_half_open_never_admits_more_than_its_permits_processes);
    tcase_add_test(tc, test_flapping_breaker_records_every_admitted_call_once);
    tcase_add_test(tc, test_resource_cap_holds_under_two_threads_and_two_processes);
    tcase_add_test(tc, test_releases_without_acquire_racing_with_releases_change_no_count);
    tcase_add_test(tc, test_retry_budget_is_never_overdrawn_concurrently);
    tcase_add_test(tc, test_exclusive_writer_with_concurrent_readers_counts_exactly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(concurrency_suite());
}

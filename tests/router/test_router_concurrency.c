/*
 * Concurrency: one compiled router, matched from several threads at once
 * (run under ThreadSanitizer in CI). Matching only reads the router, so
 * every thread must see exactly the single-threaded results.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include "gwlb.h"
#include "router_data.h"
#include "test_run.h"

typedef struct job {
    const gwlb_router *router;
    const rd_set *set;
    int rounds;
    long mismatches;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int round = 0; round < j->rounds; round++) {
        for (size_t i = 0; i < j->set->count; i++) {
            const rd_line *q = &j->set->requests[i];
            gwlb_router_request req = {.method = q->method, .path = q->path,
                                       .path_len = q->path_len};
            gwlb_route_match m;
            if (gwlb_router_match(j->router, &req, &m) != 0 || m.route != (int32_t)i)
                j->mismatches++;
        }
    }
    return NULL;
}

START_TEST(test_four_threads_match_one_router_with_identical_results)
{
    rd_set s;
    ck_assert_uint_eq(rd_load(GWLB_ROUTER_TEST_DATA, "github", &s), 203);
    gwlb_route *routes = calloc(s.count, sizeof *routes);
    rd_routes(&s, routes);
    gwlb_router *r = NULL;
    ck_assert_int_eq(gwlb_router_build(&r, routes, s.count, NULL, NULL, NULL), 0);
    pthread_t tid[4];
    job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (job){r, &s, 200, 0};
        ck_assert_int_eq(pthread_create(&tid[t], NULL, worker, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(tid[t], NULL);
        ck_assert_int_eq(jobs[t].mismatches, 0);
    }
    gwlb_router_free(r);
    free(routes);
    rd_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router-concurrency");
    TCase *tc = tcase_create("threads");
    tcase_add_test(tc, test_four_threads_match_one_router_with_identical_results);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}

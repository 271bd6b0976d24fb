/*
 * Benchmarks of the balancer: pick and pick+release per algorithm at
 * several host counts, and a rebuild after one weight change in 10k hosts.
 * Time is a fake clock advanced by the loop (the library never reads one).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "gwlb.h"

typedef struct fixture {
    gwlb_balancer_state *st;
    gwlb_balancer *b;
    gwlb_balancer_host *hosts;
    char (*ids)[32];
    uint32_t n;
    int alg;
} fixture;

static int fixture_init(fixture *f, int alg, uint32_t n, int weighted)
{
    f->n = n;
    f->alg = alg;
    f->hosts = calloc(n, sizeof *f->hosts);
    f->ids = calloc(n, sizeof *f->ids);
    if (f->hosts == NULL || f->ids == NULL)
        return -1;
    uint64_t rs = 42;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(f->ids[i], sizeof f->ids[i], "10.%u.%u.%u:8080", (unsigned)(i >> 16),
                 (unsigned)((i >> 8) & 255), (unsigned)(i & 255));
        gwlb_balancer_host_init(&f->hosts[i], f->ids[i]);
        f->hosts[i].weight = weighted ? (uint32_t)(1 + bench_rand(&rs) % 10) : 1;
    }
    if (gwlb_balancer_state_new(2 * n, NULL, &f->st) != GWLB_OK)
        return -1;
    gwlb_balancer_config c;
    gwlb_balancer_config_init(&c, (gwlb_balancer_algorithm)alg);
    c.seed = 7;
    return gwlb_balancer_build(&c, f->hosts, n, f->st, 0, &f->b, NULL) == GWLB_OK ? 0 : -1;
}

static void fixture_free(fixture *f)
{
    gwlb_balancer_free(f->b);
    gwlb_balancer_state_free(f->st);
    free(f->hosts);
    free(f->ids);
}

/* pick without in-flight accounting (gwlb_balancer_choose) */
static void b_pick(void *arg, uint64_t iters)
{
    fixture *f = arg;
    gwlb_balancer_result r;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_balancer_choose(f->b, i, &r);
        acc += r.host_index;
    }
    bench_sink = acc;
}

static void b_pick_release(void *arg, uint64_t iters)
{
    fixture *f = arg;
    gwlb_balancer_result r;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        gwlb_balancer_pick(f->b, i, &r);
        acc += r.host_index;
        gwlb_balancer_release(f->b, &r, GWLB_BALANCER_SUCCESS, (int64_t)(1000 + (i & 1023) * 64), i);
    }
    bench_sink = acc;
}

typedef struct rebuild_fx {
    fixture f;
    gwlb_balancer_config cfg;
    int toggle;
    uint64_t now;
} rebuild_fx;

/* One weight change per iteration, then the new balancer replaces (and
 * frees) the previous one: a full build from the host list, or an
 * incremental rebuild from the previous balancer. */
static void weight_change_loop(rebuild_fx *r, uint64_t iters, int incremental)
{
    for (uint64_t i = 0; i < iters; i++) {
        r->toggle ^= 1;
        r->f.hosts[r->f.n / 2].weight = r->toggle ? 7 : 3;
        gwlb_balancer *next = NULL;
        int rc = incremental ? gwlb_balancer_rebuild(r->f.b, &r->cfg, r->f.hosts, r->f.n,
                                                     ++r->now, &next, NULL)
                             : gwlb_balancer_build(&r->cfg, r->f.hosts, r->f.n, r->f.st,
                                                   ++r->now, &next, NULL);
        if (rc == GWLB_OK) {
            gwlb_balancer_free(r->f.b);
            r->f.b = next;
        }
    }
}

static void b_build(void *arg, uint64_t iters)
{
    weight_change_loop(arg, iters, 0);
}

static void b_rebuild(void *arg, uint64_t iters)
{
    weight_change_loop(arg, iters, 1);
}

static void run_one_mode(bench_ctx *ctx, const char *name, int alg, uint32_t n, int weighted,
                         bench_fn fn, double target, int exclusive)
{
    if (!bench_selected(ctx, name))
        return;
    fixture f;
    if (fixture_init(&f, alg, n, weighted) != 0) {
        fprintf(stderr, "bench %s: setup failed\n", name);
        return;
    }
    char params[48];
    snprintf(params, sizeof params, "hosts=%u%s", (unsigned)n, exclusive ? ",exclusive" : "");
    if (exclusive)
        gwlb_balancer_set_exclusive(f.b, 1);
    bench_run(ctx, &(bench_spec){.name = name, .params = params, .threads = 1, .fn = fn,
                                 .arg = &f, .target_ns = target});
    fixture_free(&f);
}

static void run_one(bench_ctx *ctx, const char *name, int alg, uint32_t n, int weighted,
                    bench_fn fn, double target)
{
    run_one_mode(ctx, name, alg, n, weighted, fn, target, 0);
}

/* default (concurrency-safe) mode, then exclusive mode (gwlb_balancer_set_exclusive) */
static void run_both(bench_ctx *ctx, const char *name, int alg, uint32_t n, int weighted,
                     bench_fn fn, double target)
{
    run_one_mode(ctx, name, alg, n, weighted, fn, target, 0);
    run_one_mode(ctx, name, alg, n, weighted, fn, target, 1);
}

void bench_balancer(bench_ctx *ctx)
{
    static const uint32_t flat[] = {10, 1000, 10000};
    for (int i = 0; i < 3; i++) {
        run_one(ctx, "balancer.rr.pick", GWLB_BALANCER_ROUND_ROBIN, flat[i], 0, b_pick, 10);
        run_one(ctx, "balancer.wrr.pick", GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, flat[i], 1, b_pick,
                10);
        run_both(ctx, "balancer.rr.pick_release", GWLB_BALANCER_ROUND_ROBIN, flat[i], 0,
                 b_pick_release, 25);
        run_both(ctx, "balancer.wrr.pick_release", GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, flat[i], 1,
                 b_pick_release, 25);
    }
    static const uint32_t mid[] = {10, 100, 1000};
    for (int i = 0; i < 3; i++) {
        run_both(ctx, "balancer.p2c.pick_release", GWLB_BALANCER_LEAST_REQUEST, mid[i], 0,
                 b_pick_release, 30);
        run_both(ctx, "balancer.p2c_weighted.pick_release", GWLB_BALANCER_LEAST_REQUEST, mid[i],
                 1, b_pick_release, 30);
        run_both(ctx, "balancer.peak_ewma.pick_release", GWLB_BALANCER_PEAK_EWMA, mid[i], 0,
                 b_pick_release, 40);
        run_one(ctx, "balancer.random.pick_release", GWLB_BALANCER_RANDOM, mid[i], 1,
                b_pick_release, 0);
        run_one(ctx, "balancer.random_two.pick_release", GWLB_BALANCER_RANDOM_TWO_CHOICES, mid[i],
                1, b_pick_release, 0);
        /* nginx algorithms are O(hosts) by design: measured, no target */
        run_both(ctx, "balancer.swrr.pick_release", GWLB_BALANCER_NGINX_ROUND_ROBIN, mid[i], 1,
                 b_pick_release, 0);
        run_both(ctx, "balancer.least_conn.pick_release", GWLB_BALANCER_LEAST_CONN, mid[i], 1,
                 b_pick_release, 0);
    }
    static const char *const rnames[2] = {"balancer.rebuild.one_weight_change",
                                          "balancer.build.one_weight_change"};
    for (int v = 0; v < 2; v++) {
        if (!bench_selected(ctx, rnames[v]))
            continue;
        uint32_t n = bench_quick(ctx) ? 1000 : 10000;
        rebuild_fx r = {0};
        if (fixture_init(&r.f, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN, n, 1) == 0) {
            gwlb_balancer_config_init(&r.cfg, GWLB_BALANCER_WEIGHTED_ROUND_ROBIN);
            char params[32];
            snprintf(params, sizeof params, "hosts=%u", (unsigned)n);
            bench_run(ctx, &(bench_spec){.name = rnames[v], .params = params, .threads = 1,
                                         .fn = v == 0 ? b_rebuild : b_build, .arg = &r,
                                         .target_ns = 1000000});
        }
        fixture_free(&r.f);
    }
}

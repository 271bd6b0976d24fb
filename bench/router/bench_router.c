/*
 * Router benchmarks: lookups on the standard route sets (request lines from
 * tests/router/data, method parsed from its name + path matched, as a host
 * would do per request), lookups and build time on a generated 10k-route
 * table, and path normalization. Memory per route comes from the router's
 * own allocation size (gwlb_router_stats_get).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gwlb.h"
#include "router/bench_router_data.h"
#include "../../tests/router/router_data.h"

typedef struct req_text {
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
} req_text;

typedef struct match_state {
    const gwlb_router *router;
    req_text *reqs;
    size_t count;
} match_state;

static const char *method_name(uint32_t bit)
{
    static const char *const names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (unsigned i = 0; i < 9; i++)
        if (bit == (1u << i))
            return names[i];
    return "GET";
}

/* One lookup = method name -> bit, then match of the path. */
static void bench_match(void *arg, uint64_t iters)
{
    match_state *st = arg;
    size_t i = 0;
    uint64_t acc = 0;
    gwlb_route_match m;
    for (uint64_t n = 0; n < iters; n++) {
        const req_text *q = &st->reqs[i];
        gwlb_router_request req;
        req.method = gwlb_method_from_string(q->method, q->method_len);
        req.host = NULL;
        req.host_len = 0;
        req.path = q->path;
        req.path_len = q->path_len;
        req.query = NULL;
        req.query_len = 0;
        req.headers = NULL;
        req.header_count = 0;
        acc += (uint64_t)gwlb_router_match(st->router, &req, &m) + (uint64_t)m.route;
        if (++i == st->count)
            i = 0;
    }
    bench_sink = acc;
}

static void bench_set(bench_ctx *ctx, const char *set_name, double target)
{
    char name[64];
    snprintf(name, sizeof name, "router.%s.match", set_name);
    if (!bench_selected(ctx, name))
        return;
    rd_set s;
    if (rd_load(GWLB_ROUTER_BENCH_DATA, set_name, &s) == 0)
        return;
    gwlb_route *routes = calloc(s.count, sizeof *routes);
    req_text *reqs = calloc(s.count, sizeof *reqs);
    rd_routes(&s, routes);
    for (size_t i = 0; i < s.count; i++) {
        reqs[i].method = method_name(s.requests[i].method);
        reqs[i].method_len = strlen(reqs[i].method);
        reqs[i].path = s.requests[i].path;
        reqs[i].path_len = s.requests[i].path_len;
    }
    gwlb_router *r = NULL;
    if (gwlb_router_build(&r, routes, s.count, NULL, NULL, NULL) == 0) {
        gwlb_router_stats stats;
        gwlb_router_stats_get(r, &stats);
        char params[64];
        snprintf(params, sizeof params, "routes=%zu", s.count);
        match_state st = {r, reqs, s.count};
        bench_run(ctx, &(bench_spec){.name = name, .params = params, .fn = bench_match,
                                     .arg = &st, .target_ns = target,
                                     .bytes = (double)stats.bytes / (double)s.count,
                                     .bytes_unit = "per_route"});
        gwlb_router_free(r);
    }
    free(reqs);
    free(routes);
    rd_free(&s);
}

/* A generated table: static, parameter, constrained and catch-all routes. */
typedef struct gen_table {
    size_t count;
    gwlb_route *routes;
    char (*patterns)[64];
    req_text *reqs;
    char (*paths)[64];
} gen_table;

static void gen_make(gen_table *g, size_t count)
{
    g->count = count;
    g->routes = calloc(count, sizeof *g->routes);
    g->patterns = calloc(count, sizeof *g->patterns);
    g->reqs = calloc(count, sizeof *g->reqs);
    g->paths = calloc(count, sizeof *g->paths);
    for (size_t i = 0; i < count; i++) {
        unsigned svc = (unsigned)(i / 4), k = (unsigned)(i % 4);
        switch (k) {
        case 0:
            snprintf(g->patterns[i], 64, "/svc%u/items", svc);
            snprintf(g->paths[i], 64, "/svc%u/items", svc);
            break;
        case 1:
            snprintf(g->patterns[i], 64, "/svc%u/items/{id}", svc);
            snprintf(g->paths[i], 64, "/svc%u/items/abc-%u", svc, svc);
            break;
        case 2:
            snprintf(g->patterns[i], 64, "/svc%u/items/{id:int}/sub%u", svc, svc % 7);
            snprintf(g->paths[i], 64, "/svc%u/items/%u/sub%u", svc, svc * 13, svc % 7);
            break;
        default:
            snprintf(g->patterns[i], 64, "/svc%u/files/{*path}", svc);
            snprintf(g->paths[i], 64, "/svc%u/files/a/b/c.txt", svc);
            break;
        }
        gwlb_route_init(&g->routes[i]);
        g->routes[i].methods = GWLB_METHOD_GET;
        g->routes[i].path = g->patterns[i];
        g->reqs[i].method = "GET";
        g->reqs[i].method_len = 3;
        g->reqs[i].path = g->paths[i];
        g->reqs[i].path_len = strlen(g->paths[i]);
    }
}

static void gen_free(gen_table *g)
{
    free(g->routes);
    free(g->patterns);
    free(g->reqs);
    free(g->paths);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_generated(bench_ctx *ctx)
{
    const char *build_name = "router.10k.build";
    const char *match_name = "router.10k.match";
    if (!bench_selected(ctx, build_name) && !bench_selected(ctx, match_name))
        return;
    gen_table g;
    gen_make(&g, 10000);
    gwlb_router *r = NULL;
    if (gwlb_router_build(&r, g.routes, g.count, NULL, NULL, NULL) != 0) {
        gen_free(&g);
        return;
    }
    gwlb_router_stats stats;
    gwlb_router_stats_get(r, &stats);
    double per_route = (double)stats.bytes / (double)g.count;
    if (bench_selected(ctx, build_name)) {
        int runs = bench_quick(ctx) ? 3 : 9;
        double t[9];
        for (int k = 0; k < runs; k++) {
            gwlb_router *x = NULL;
            uint64_t t0 = bench_now_ns();
            int rc = gwlb_router_build(&x, g.routes, g.count, NULL, NULL, NULL);
            t[k] = (double)(bench_now_ns() - t0);
            if (rc == 0)
                gwlb_router_free(x);
        }
        qsort(t, (size_t)runs, sizeof t[0], cmp_d);
        bench_record(ctx, &(bench_spec){.name = build_name, .params = "routes=10000",
                                        .target_ns = 20e6, .bytes = per_route,
                                        .bytes_unit = "per_route"},
                     t[runs / 2], t[0], t[runs - 1]);
    }
    match_state st = {r, g.reqs, g.count};
    bench_run(ctx, &(bench_spec){.name = match_name, .params = "routes=10000", .fn = bench_match,
                                 .arg = &st, .bytes = per_route, .bytes_unit = "per_route"});
    gwlb_router_free(r);
    gen_free(&g);
}

typedef struct norm_state {
    const char *path;
    size_t len;
    char out[256];
} norm_state;

static void bench_normalize(void *arg, uint64_t iters)
{
    norm_state *st = arg;
    uint64_t acc = 0;
    for (uint64_t n = 0; n < iters; n++) {
        size_t len = 0;
        gwlb_path_normalize(st->path, st->len, GWLB_NORMALIZE_DEFAULT, st->out, sizeof st->out,
                            &len);
        acc += len;
    }
    bench_sink = acc;
}

void bench_router(bench_ctx *ctx)
{
    bench_set(ctx, "github", 40);
    bench_set(ctx, "parse", 0);
    bench_set(ctx, "gplus", 0);
    bench_set(ctx, "static", 0);
    bench_generated(ctx);
    norm_state ns = {"/repos/octocat/Hello-World/./issues/%7Ebob//comments/../1347", 0, {0}};
    ns.len = strlen(ns.path);
    bench_run(ctx, &(bench_spec){.name = "router.normalize", .params = "path_len=61",
                                 .fn = bench_normalize, .arg = &ns});
}

/*
 * The full per-request decision as one figure:
 *   route (gwlb_router_match) -> limit (keyed GCRA table, 10k clients)
 *   -> pick (P2C least request, 10 hosts) -> breaker allow
 *   -> release + breaker record + health outcome report.
 * Time advances 1 us per request; the client key and path rotate over
 * fixed, seeded inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gwlb.h"

#define HOSTS 10
#define CLIENTS 10000
#define PATHS 64

typedef struct request_bench {
    gwlb_router *router;
    gwlb_limiter_table *limits;
    gwlb_balancer_state *state;
    gwlb_balancer *bal;
    gwlb_breaker_config breaker_cfg;
    gwlb_breaker breakers[HOSTS];
    gwlb_health *health;
    char keys[CLIENTS][16];
    char paths[PATHS][48];
    uint32_t path_len[PATHS];
    uint32_t methods[PATHS];
    uint64_t now;
} request_bench;

static void b_request(void *arg, uint64_t iters)
{
    request_bench *rb = arg;
    uint64_t ok = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint64_t now = (rb->now += 1000);
        uint32_t p = (uint32_t)(i % PATHS);
        gwlb_router_request rq = {0};
        rq.method = rb->methods[p];
        rq.path = rb->paths[p];
        rq.path_len = rb->path_len[p];
        gwlb_route_match m;
        if (gwlb_router_match(rb->router, &rq, &m) != 0)
            continue;
        gwlb_limit_result lr;
        gwlb_limiter_table_allow(rb->limits, rb->keys[(i * 7919) % CLIENTS], 16, now, 1, &lr);
        if (!lr.allowed)
            continue;
        gwlb_balancer_result pick;
        if (gwlb_balancer_pick(rb->bal, now, &pick) != 0)
            continue;
        uint64_t ticket;
        gwlb_breaker *br = &rb->breakers[pick.host_index];
        if (gwlb_breaker_allow(br, &rb->breaker_cfg, now, &ticket) != 0) {
            gwlb_balancer_release(rb->bal, &pick, GWLB_BALANCER_SUCCESS, 0, now);
            continue;
        }
        gwlb_balancer_release(rb->bal, &pick, GWLB_BALANCER_SUCCESS, 2000000, now);
        gwlb_breaker_record(br, &rb->breaker_cfg, ticket, GWLB_BREAKER_SUCCESS, 2000000, now);
        gwlb_health_report_status(rb->health, pick.host_index, 200, now);
        ok++;
    }
    bench_sink = ok;
}

static const struct {
    uint32_t method;
    const char *pattern, *request;
} routes[] = {
    {GWLB_METHOD_GET, "/api/users/{id:int}", "/api/users/%u"},
    {GWLB_METHOD_GET, "/api/users/{id:int}/orders", "/api/users/%u/orders"},
    {GWLB_METHOD_POST, "/api/orders", "/api/orders"},
    {GWLB_METHOD_GET, "/api/orders/{id}", "/api/orders/o-%u"},
    {GWLB_METHOD_GET, "/static/{*path}", "/static/img/%u.png"},
    {GWLB_METHOD_GET, "/healthz", "/healthz"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static int setup(request_bench *rb)
{
    gwlb_route r[NROUTES];
    for (size_t i = 0; i < NROUTES; i++) {
        gwlb_route_init(&r[i]);
        r[i].methods = routes[i].method;
        r[i].path = routes[i].pattern;
    }
    if (gwlb_router_build(&rb->router, r, NROUTES, NULL, NULL, NULL) != 0)
        return -1;
    uint64_t seed = 7;
    for (uint32_t i = 0; i < PATHS; i++) {
        size_t k = i % NROUTES;
        snprintf(rb->paths[i], sizeof rb->paths[i], routes[k].request,
                 (unsigned)(bench_rand(&seed) % 1000000));
        rb->path_len[i] = (uint32_t)strlen(rb->paths[i]);
        rb->methods[i] = routes[k].method;
    }
    for (uint32_t i = 0; i < CLIENTS; i++)
        snprintf(rb->keys[i], sizeof rb->keys[i], "10.%u.%u.%u", (i >> 16) & 255,
                 (i >> 8) & 255, i & 255);
    gwlb_limiter_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.kind = GWLB_LIMITER_GCRA;
    if (gwlb_gcra_config_init(&pol.u.gcra, 100, GWLB_NS_PER_SEC, 100) != 0)
        return -1;
    const uint8_t hk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    if (gwlb_limiter_table_new(gwlb_limiter_table_bytes(2 * CLIENTS), &pol, hk, NULL,
                               &rb->limits) != 0)
        return -1;
    gwlb_balancer_host hosts[HOSTS];
    char ids[HOSTS][24];
    for (int i = 0; i < HOSTS; i++) {
        snprintf(ids[i], sizeof ids[i], "10.0.0.%d:8080", i + 1);
        gwlb_balancer_host_init(&hosts[i], ids[i]);
    }
    gwlb_balancer_config bc;
    gwlb_balancer_config_init(&bc, GWLB_BALANCER_LEAST_REQUEST);
    if (gwlb_balancer_state_new(2 * HOSTS, NULL, &rb->state) != 0 ||
        gwlb_balancer_build(&bc, hosts, HOSTS, rb->state, 0, &rb->bal, NULL) != 0)
        return -1;
    gwlb_breaker_config_init(&rb->breaker_cfg);
    for (int i = 0; i < HOSTS; i++)
        if (gwlb_breaker_init(&rb->breakers[i], &rb->breaker_cfg, (uint64_t)i, NULL) != 0)
            return -1;
    gwlb_health_config hc;
    gwlb_health_config_init(&hc);
    if (gwlb_health_create(&hc, HOSTS, 0, NULL, 0, 0, NULL, &rb->health, NULL) != 0)
        return -1;
    rb->now = GWLB_NS_PER_SEC;
    return 0;
}

static void teardown(request_bench *rb)
{
    gwlb_health_free(rb->health);
    gwlb_balancer_free(rb->bal);
    gwlb_balancer_state_free(rb->state);
    gwlb_limiter_table_free(rb->limits);
    gwlb_router_free(rb->router);
}

void bench_request(bench_ctx *ctx)
{
    if (!bench_selected(ctx, "request.full_decision"))
        return;
    request_bench *rb = calloc(1, sizeof *rb);
    if (rb == NULL)
        return;
    if (setup(rb) == 0)
        bench_run(ctx, &(bench_spec){.name = "request.full_decision",
                                     .params = "routes=6,clients=10000,hosts=10,p2c",
                                     .fn = b_request, .arg = rb});
    else
        fprintf(stderr, "request.full_decision: setup failed\n");
    teardown(rb);
    free(rb);
}

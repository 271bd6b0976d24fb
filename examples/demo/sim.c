/*
 * The simulated gateway: an event heap in simulated nanoseconds, backend
 * models, and the per-request decision chain wired through libgwlb:
 *
 *   arrival -> gwlb_router_match -> gwlb_gcra_allow (per client)
 *           -> gwlb_balancer_pick[_excluding] -> gwlb_breaker_allow (per host)
 *           -> backend model (latency, status) ... completion:
 *              gwlb_balancer_release + gwlb_breaker_record
 *              + gwlb_health_report_status / _report_local
 *   every second: gwlb_health_outlier_run on its interval, health flags
 *                 copied into the balancer (gwlb_balancer_host_flags_update)
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gwlb.h>

#include "demo.h"

#define NS 1000000000.0

static const struct {
    const char *name;
    int algo;
} algos[] = {
    {"p2c", GWLB_BALANCER_LEAST_REQUEST},
    {"ewma", GWLB_BALANCER_PEAK_EWMA},
    {"rr", GWLB_BALANCER_ROUND_ROBIN},
    {"wrr", GWLB_BALANCER_WEIGHTED_ROUND_ROBIN},
    {"nginx-rr", GWLB_BALANCER_NGINX_ROUND_ROBIN},
    {"least-conn", GWLB_BALANCER_LEAST_CONN},
    {"random", GWLB_BALANCER_RANDOM},
    {"random2", GWLB_BALANCER_RANDOM_TWO_CHOICES},
};

const char *demo_algo_name(int a)
{
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++)
        if (algos[i].algo == a)
            return algos[i].name;
    return "?";
}

int demo_algo_parse(const char *name)
{
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++)
        if (strcmp(algos[i].name, name) == 0)
            return algos[i].algo;
    return -1;
}

/* ---- routes ---- */

static const struct {
    uint32_t method;
    const char *pattern;
    int cluster;          /* -1: answered by the gateway itself */
    const char *request;  /* printf template for a request path */
} route_table[DEMO_ROUTES] = {
    {GWLB_METHOD_GET, "/api/users/{id:int}", 0, "/api/users/%u"},
    {GWLB_METHOD_GET, "/api/users/{id:int}/orders", 1, "/api/users/%u/orders"},
    {GWLB_METHOD_POST, "/api/orders", 1, "/api/orders"},
    {GWLB_METHOD_GET, "/static/{*path}", 0, "/static/img/%u.png"},
    {GWLB_METHOD_GET, "/healthz", -1, "/healthz"},
};

/* ---- events ---- */

enum { EV_ARRIVAL, EV_DONE, EV_TICK };

typedef struct event {
    uint64_t t;
    uint32_t kind;
    uint32_t arg;
} event;

typedef struct heap {
    event *v;
    size_t n, cap;
} heap;

static int heap_push(heap *h, event e)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        event *v = realloc(h->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p].t <= e.t)
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = e;
    return 0;
}

static event heap_pop(heap *h)
{
    event top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].t < h->v[c].t)
            c++;
        if (last.t <= h->v[c].t)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

/* ---- in-flight requests ---- */

typedef struct request {
    uint32_t cluster, backend; /* backend: global index */
    uint32_t client;
    uint64_t start;
    uint64_t ticket;
    uint32_t status;           /* 0 = connect error */
    gwlb_balancer_result pick;
    uint32_t next_free;
} request;

typedef struct cluster {
    gwlb_balancer_state *state;
    gwlb_balancer *bal;
    gwlb_health *health;
    uint32_t first, count;     /* global backend indices */
} cluster;

typedef struct sim {
    const demo_options *opt;
    demo_result *res;
    int keep_log;
    gwlb_rng rng;
    heap events;
    request *reqs;
    uint32_t req_cap, free_head;
    cluster clusters[DEMO_CLUSTERS];
    gwlb_router *router;
    gwlb_gcra *buckets;        /* one per client; the last is the abusive one */
    gwlb_breaker_config breaker_cfg;
    gwlb_breaker breakers[DEMO_MAX_BACKENDS];
    uint32_t inflight[DEMO_MAX_BACKENDS];
    double *lat;               /* client-visible latencies (ms) */
    size_t lat_n, lat_cap;
    double *blat[DEMO_MAX_BACKENDS];
    size_t blat_n[DEMO_MAX_BACKENDS], blat_cap[DEMO_MAX_BACKENDS];
    uint64_t now;
    uint32_t breaker_log_backend; /* set before breaker calls, for the callback */
} sim;

static double uniform(sim *s)
{
    return ((double)(gwlb_rng_next(&s->rng) >> 11) + 0.5) / 9007199254740992.0;
}

static double exponential(sim *s, double mean)
{
    return -mean * log(uniform(s));
}

static double lognormal(sim *s, double median, double sigma)
{
    double z = sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
    return median * exp(sigma * z);
}

static void logf_(sim *s, const char *fmt, const char *a, const char *b, const char *c)
{
    demo_result *r = s->res;
    if (!s->keep_log || r->log_count >= DEMO_MAX_LOG)
        return;
    /* The names live in the same result struct as the log: copy them first. */
    char na[32], nb[48], nc[48];
    snprintf(na, sizeof na, "%s", a);
    snprintf(nb, sizeof nb, "%s", b);
    snprintf(nc, sizeof nc, "%s", c);
    char *line = r->log[r->log_count++];
    int k = snprintf(line, 96, "t=%7.2fs  ", (double)s->now / NS);
    snprintf(line + k, (size_t)(96 - k), fmt, na, nb, nc);
}

static int push_lat(double **v, size_t *n, size_t *cap, double x)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        double *nv = realloc(*v, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* ---- libgwlb callbacks ---- */

static void on_breaker(const gwlb_breaker_event *ev, void *ud)
{
    sim *s = ud;
    logf_(s, "breaker  %-9s %s -> %s", s->res->backends[s->breaker_log_backend].name,
          gwlb_breaker_state_name((int)ev->from), gwlb_breaker_state_name((int)ev->to));
}

static const char *health_cause(uint32_t c)
{
    switch (c) {
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_GATEWAY_FAILURE: return "consecutive gateway failures";
    case GWLB_HEALTH_CAUSE_CONSECUTIVE_LOCAL_ORIGIN_FAILURE: return "consecutive local-origin failures";
    case GWLB_HEALTH_CAUSE_SUCCESS_RATE: return "success-rate outlier";
    case GWLB_HEALTH_CAUSE_FAILURE_PERCENTAGE: return "failure-percentage outlier";
    case GWLB_HEALTH_CAUSE_UNEJECT: return "ejection time elapsed";
    default: return "consecutive 5xx";
    }
}

typedef struct health_ctx {
    sim *s;
    int cluster;
} health_ctx;

static health_ctx hctx[DEMO_CLUSTERS];

static void on_health(const gwlb_health_event *ev, void *ud)
{
    health_ctx *hc = ud;
    sim *s = hc->s;
    cluster *c = &s->clusters[hc->cluster];
    uint32_t ejected_now = ev->new_flags & GWLB_HOST_EJECTED;
    uint32_t ejected_before = ev->old_flags & GWLB_HOST_EJECTED;
    if (ejected_now != ejected_before)
        logf_(s, "outlier  %-9s %s (%s)", s->res->backends[c->first + ev->host].name,
              ejected_now ? "ejected" : "returned", health_cause(ev->cause));
    /* The health tracker owns these reasons; copy them into the balancer. */
    const uint32_t owned = GWLB_HOST_EJECTED | GWLB_HOST_FAILED_ACTIVE;
    gwlb_balancer_host_flags_update(c->bal, ev->host, ev->new_flags & owned,
                                    owned & ~ev->new_flags);
}

/* ---- setup ---- */

static void backend_models(const demo_options *o, demo_result *r)
{
    uint32_t n = o->hosts_per_cluster;
    r->backend_count = 0;
    for (int c = 0; c < DEMO_CLUSTERS; c++) {
        for (uint32_t i = 0; i < n; i++) {
            demo_backend_model *m = &r->backends[r->backend_count++];
            memset(m, 0, sizeof *m);
            snprintf(m->name, sizeof m->name, "%s-%u", c == 0 ? "users" : "orders", i + 1);
            m->cluster = c;
            m->median_ms = 8.0 + 2.0 * (double)i;
            m->sigma = 0.45;
            m->capacity = 16;
            m->fail_from_s = m->fail_until_s = 0;
            if (c == 0 && i == 1) /* the slow one */
                m->median_ms = o->slow_ms;
            if (c == 0 && i == n - 1) { /* starts failing half-way */
                m->fail_prob = o->fail_rate;
                m->fail_from_s = o->duration_s / 2;
                m->fail_until_s = o->duration_s * 10;
            }
            if (c == 1 && i == 0) { /* down at first, recovers at 1/3 */
                m->fail_prob = 1.0;
                m->connect_errors = 1;
                m->fail_from_s = 0;
                m->fail_until_s = o->duration_s / 3;
            }
        }
    }
}

static int setup(sim *s, int algorithm)
{
    const demo_options *o = s->opt;
    demo_result *r = s->res;
    int rc;
    gwlb_rng_seed(&s->rng, o->seed);

    /* Router. */
    gwlb_route routes[DEMO_ROUTES];
    for (int i = 0; i < DEMO_ROUTES; i++) {
        gwlb_route_init(&routes[i]);
        routes[i].methods = route_table[i].method;
        routes[i].path = route_table[i].pattern;
        routes[i].id = (uint64_t)i;
    }
    gwlb_error_detail d;
    if ((rc = gwlb_router_build(&s->router, routes, DEMO_ROUTES, NULL, NULL, &d)) != 0) {
        fprintf(stderr, "router: %s (%s)\n", gwlb_strerror(rc), d.message);
        return rc;
    }

    /* Limiter: 20 r/s with a burst of 40 per client. */
    uint32_t nclients = o->clients + 1;
    s->buckets = calloc(nclients, sizeof *s->buckets);
    if (s->buckets == NULL)
        return GWLB_ENOMEM;
    for (uint32_t i = 0; i < nclients; i++)
        if ((rc = gwlb_gcra_init(&s->buckets[i], 20, GWLB_NS_PER_SEC, 40)) != 0)
            return rc;

    /* Breakers: resilience4j-like rate window plus gobreaker's consecutive rule. */
    gwlb_breaker_config_init(&s->breaker_cfg);
    s->breaker_cfg.window_kind = GWLB_BREAKER_WINDOW_COUNT;
    s->breaker_cfg.window_size = 50;
    s->breaker_cfg.minimum_calls = 20;
    s->breaker_cfg.failure_rate_percent = 50;
    s->breaker_cfg.open_wait_ns = 5 * GWLB_NS_PER_SEC;
    s->breaker_cfg.open_wait_max_ns = 60 * GWLB_NS_PER_SEC;
    s->breaker_cfg.open_wait_multiplier_percent = 200; /* 5 s, 10 s, 20 s, ... */
    s->breaker_cfg.half_open_permits = 3;
    s->breaker_cfg.half_open_successes = 3;
    s->breaker_cfg.on_transition = on_breaker;
    s->breaker_cfg.user_data = s;
    for (uint32_t b = 0; b < r->backend_count; b++)
        if ((rc = gwlb_breaker_init(&s->breakers[b], &s->breaker_cfg, o->seed + b, &d)) != 0) {
            fprintf(stderr, "breaker: %s (%s)\n", gwlb_strerror(rc), d.message);
            return rc;
        }

    /* Balancers and health trackers, one per cluster. */
    for (int c = 0; c < DEMO_CLUSTERS; c++) {
        cluster *cl = &s->clusters[c];
        cl->first = (uint32_t)c * o->hosts_per_cluster;
        cl->count = o->hosts_per_cluster;
        gwlb_balancer_host hosts[DEMO_MAX_BACKENDS];
        for (uint32_t i = 0; i < cl->count; i++) {
            gwlb_balancer_host_init(&hosts[i], r->backends[cl->first + i].name);
            hosts[i].max_fails = 0; /* passive health comes from the tracker here */
            hosts[i].user_data = cl->first + i;
        }
        gwlb_balancer_config bc;
        gwlb_balancer_config_init(&bc, (gwlb_balancer_algorithm)algorithm);
        bc.seed = o->seed + (uint64_t)c;
        if ((rc = gwlb_balancer_state_new(2 * cl->count, NULL, &cl->state)) != 0)
            return rc;
        if ((rc = gwlb_balancer_build(&bc, hosts, cl->count, cl->state, 0, &cl->bal, &d)) != 0) {
            fprintf(stderr, "balancer: %s (%s)\n", gwlb_strerror(rc), d.message);
            return rc;
        }
        gwlb_health_config hc;
        gwlb_health_config_init(&hc);
        hc.interval_ns = 5 * GWLB_NS_PER_SEC;
        hc.base_ejection_time_ns = 15 * GWLB_NS_PER_SEC;
        hc.max_ejection_percent = 50;
        hc.consecutive_gateway_failure = 5;
        hc.enforcing_consecutive_gateway_failure = 100;
        hc.consecutive_local_origin_failure = 5;
        hc.split_local_origin_errors = 1;
        hc.success_rate_minimum_hosts = 3;
        hc.success_rate_request_volume = 50;
        hc.seed = o->seed;
        if ((rc = gwlb_health_create(&hc, cl->count, 0, NULL, 0, 0, NULL, &cl->health, &d)) != 0) {
            fprintf(stderr, "health: %s (%s)\n", gwlb_strerror(rc), d.message);
            return rc;
        }
        hctx[c].s = s;
        hctx[c].cluster = c;
        gwlb_health_set_callback(cl->health, on_health, &hctx[c]);
    }
    return 0;
}

static void teardown(sim *s)
{
    for (int c = 0; c < DEMO_CLUSTERS; c++) {
        gwlb_health_free(s->clusters[c].health);
        gwlb_balancer_free(s->clusters[c].bal);
        gwlb_balancer_state_free(s->clusters[c].state);
    }
    gwlb_router_free(s->router);
    free(s->buckets);
    free(s->events.v);
    free(s->reqs);
    free(s->lat);
    for (int b = 0; b < DEMO_MAX_BACKENDS; b++)
        free(s->blat[b]);
}

static uint32_t req_alloc(sim *s)
{
    if (s->free_head == UINT32_MAX) {
        uint32_t cap = s->req_cap ? s->req_cap * 2 : 1024;
        request *v = realloc(s->reqs, cap * sizeof *v);
        if (v == NULL)
            return UINT32_MAX;
        s->reqs = v;
        for (uint32_t i = s->req_cap; i < cap; i++)
            v[i].next_free = i + 1 < cap ? i + 1 : UINT32_MAX;
        s->free_head = s->req_cap;
        s->req_cap = cap;
    }
    uint32_t i = s->free_head;
    s->free_head = s->reqs[i].next_free;
    return i;
}

/* ---- the per-request decision chain ---- */

static int handle_arrival(sim *s, uint32_t client)
{
    const demo_options *o = s->opt;
    demo_result *r = s->res;
    int abusive = client == o->clients;
    r->requests++;
    r->client_requests[abusive]++;

    /* Which route? */
    uint32_t which = (uint32_t)(gwlb_rng_next(&s->rng) % 100);
    uint32_t ri = which < 45 ? 0 : which < 65 ? 1 : which < 75 ? 2 : which < 97 ? 3 : 4;
    char path[64];
    snprintf(path, sizeof path, route_table[ri].request, (unsigned)(which * 7919u % 100000u));
    gwlb_router_request rq = {0};
    rq.method = route_table[ri].method;
    rq.path = path;
    rq.path_len = strlen(path);
    gwlb_route_match m;
    if (gwlb_router_match(s->router, &rq, &m) != 0) {
        r->not_found++;
        return 0;
    }
    r->route_hits[m.route]++;
    int cl_index = route_table[m.id].cluster;

    /* Admit? */
    gwlb_limit_result lr;
    gwlb_gcra_allow(&s->buckets[client], s->now, 1, &lr);
    if (!lr.allowed) {
        r->limited++;
        r->client_limited[abusive]++;
        return 0;
    }
    if (cl_index < 0) { /* /healthz: answered by the gateway */
        r->ok++;
        return push_lat(&s->lat, &s->lat_n, &s->lat_cap, 0.05);
    }

    /* Which backend? Up to two attempts: a host whose breaker is open is skipped. */
    cluster *cl = &s->clusters[cl_index];
    uint64_t tried = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        gwlb_balancer_result pick;
        int rc = gwlb_balancer_pick_excluding(cl->bal, s->now, &tried, 1, &pick);
        if (rc != 0) {
            r->no_host++;
            return push_lat(&s->lat, &s->lat_n, &s->lat_cap, 0.05);
        }
        uint32_t b = (uint32_t)pick.user_data;
        uint64_t ticket;
        s->breaker_log_backend = b;
        if (gwlb_breaker_allow(&s->breakers[b], &s->breaker_cfg, s->now, &ticket) != 0) {
            gwlb_balancer_release(cl->bal, &pick, GWLB_BALANCER_SUCCESS, 0, s->now);
            tried |= UINT64_C(1) << pick.host_index;
            r->breaker_rejected++;
            continue;
        }
        /* Simulate the backend. */
        const demo_backend_model *mdl = &r->backends[b];
        double t_s = (double)s->now / NS;
        int failing = t_s >= mdl->fail_from_s && t_s < mdl->fail_until_s &&
                      uniform(s) < mdl->fail_prob;
        double ms = lognormal(s, mdl->median_ms, mdl->sigma);
        s->inflight[b]++;
        if (s->inflight[b] > mdl->capacity)
            ms *= 1.0 + (double)(s->inflight[b] - mdl->capacity) / (double)mdl->capacity;
        uint32_t status = 200;
        if (failing) {
            status = mdl->connect_errors ? 0 : 503;
            ms = mdl->connect_errors ? 1.0 : ms * 0.3;
        }
        uint32_t id = req_alloc(s);
        if (id == UINT32_MAX)
            return -1;
        request *q = &s->reqs[id];
        q->cluster = (uint32_t)cl_index;
        q->backend = b;
        q->client = client;
        q->start = s->now;
        q->ticket = ticket;
        q->status = status;
        q->pick = pick;
        r->backend_requests[b]++;
        uint32_t bucket = (uint32_t)(t_s / r->bucket_s);
        if (bucket < r->buckets)
            r->bucket_counts[bucket][b]++;
        return heap_push(&s->events, (event){s->now + (uint64_t)(ms * 1e6), EV_DONE, id});
    }
    r->no_host++;
    return push_lat(&s->lat, &s->lat_n, &s->lat_cap, 0.05);
}

static int handle_done(sim *s, uint32_t id)
{
    request *q = &s->reqs[id];
    cluster *cl = &s->clusters[q->cluster];
    demo_result *r = s->res;
    uint64_t lat = s->now - q->start;
    int fail = q->status != 200;
    int outcome = q->status == 0     ? GWLB_BALANCER_LOCAL_ORIGIN_FAILURE
                  : q->status >= 502 ? GWLB_BALANCER_GATEWAY_FAILURE
                                     : GWLB_BALANCER_SUCCESS;
    gwlb_balancer_release(cl->bal, &q->pick, outcome, (int64_t)lat, s->now);
    s->breaker_log_backend = q->backend;
    gwlb_breaker_record(&s->breakers[q->backend], &s->breaker_cfg, q->ticket,
                        fail ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS, lat, s->now);
    uint32_t local = q->backend - cl->first;
    if (q->status == 0)
        gwlb_health_report_local(cl->health, local, GWLB_LOCAL_CONNECT_FAILED, s->now);
    else
        gwlb_health_report_status(cl->health, local, q->status, s->now);
    s->inflight[q->backend]--;
    if (fail)
        r->upstream_fail++;
    else
        r->ok++;
    double ms = (double)lat / 1e6;
    if (push_lat(&s->lat, &s->lat_n, &s->lat_cap, ms) != 0 ||
        push_lat(&s->blat[q->backend], &s->blat_n[q->backend], &s->blat_cap[q->backend], ms))
        return -1;
    q->next_free = s->free_head;
    s->free_head = id;
    return 0;
}

static void handle_tick(sim *s)
{
    for (int c = 0; c < DEMO_CLUSTERS; c++) {
        gwlb_health_outlier_report rep;
        gwlb_health_outlier_run(s->clusters[c].health, s->now, &rep);
    }
}

int demo_run(const demo_options *o, int algorithm, int keep_log, demo_result *r)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(r, 0, sizeof *r);
    r->algorithm = algorithm;
    r->bucket_s = o->duration_s / 60.0;
    r->buckets = 60;
    backend_models(o, r);

    sim s;
    memset(&s, 0, sizeof s);
    s.opt = o;
    s.res = r;
    s.keep_log = keep_log;
    s.free_head = UINT32_MAX;
    int rc = setup(&s, algorithm);
    uint64_t end = (uint64_t)(o->duration_s * NS);
    for (uint32_t c = 0; rc == 0 && c <= o->clients; c++) {
        double rps = c == o->clients ? o->abusive_rps : o->client_rps;
        rc = heap_push(&s.events, (event){(uint64_t)(exponential(&s, 1.0 / rps) * NS), EV_ARRIVAL, c});
    }
    if (rc == 0)
        rc = heap_push(&s.events, (event){(uint64_t)NS, EV_TICK, 0});
    while (rc == 0 && s.events.n > 0) {
        event e = heap_pop(&s.events);
        s.now = e.t;
        if (e.kind == EV_ARRIVAL) {
            if (e.t >= end)
                continue;
            rc = handle_arrival(&s, e.arg);
            double rps = e.arg == o->clients ? o->abusive_rps : o->client_rps;
            if (rc == 0)
                rc = heap_push(&s.events,
                               (event){e.t + (uint64_t)(exponential(&s, 1.0 / rps) * NS), EV_ARRIVAL, e.arg});
        } else if (e.kind == EV_DONE) {
            rc = handle_done(&s, e.arg);
        } else if (e.t < end) {
            handle_tick(&s);
            rc = heap_push(&s.events, (event){e.t + (uint64_t)NS, EV_TICK, 0});
        }
    }
    if (rc == 0) {
        qsort(s.lat, s.lat_n, sizeof *s.lat, cmp_d);
        r->p50_ms = pct(s.lat, s.lat_n, 0.50);
        r->p99_ms = pct(s.lat, s.lat_n, 0.99);
        r->p999_ms = pct(s.lat, s.lat_n, 0.999);
        for (uint32_t b = 0; b < r->backend_count; b++) {
            qsort(s.blat[b], s.blat_n[b], sizeof(double), cmp_d);
            r->backend_p50_ms[b] = pct(s.blat[b], s.blat_n[b], 0.50);
            r->backend_p99_ms[b] = pct(s.blat[b], s.blat_n[b], 0.99);
        }
    }
    teardown(&s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->wall_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    return rc;
}

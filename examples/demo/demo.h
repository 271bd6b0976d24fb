/*
 * The libgwlb demo: a simulated API gateway, entirely in memory.
 *
 *   clients --(Poisson arrivals)--> router --> limiter --> balancer pick
 *        --> breaker allow --> simulated backend (latency, failures)
 *        --> release + breaker record + health outcome
 *
 * Time is simulated (nanoseconds on an event heap); every libgwlb call gets
 * the simulated `now`, which is exactly what a real host passes from its
 * clock. One run per balancing algorithm, same seed, same workload, so the
 * algorithms are compared on identical traffic.
 */
#ifndef GWLB_DEMO_H
#define GWLB_DEMO_H

#include <stdint.h>
#include <stdio.h>

#define DEMO_MAX_BACKENDS 64
#define DEMO_MAX_ALGOS 8
#define DEMO_MAX_BUCKETS 512
#define DEMO_MAX_LOG 256
#define DEMO_CLUSTERS 2
#define DEMO_ROUTES 5

/* One simulated backend's behaviour. */
typedef struct demo_backend_model {
    char name[24];
    int cluster;            /* 0 = "users", 1 = "orders" */
    double median_ms;       /* lognormal service time median */
    double sigma;           /* lognormal shape */
    uint32_t capacity;      /* concurrency before queueing inflates latency */
    double fail_prob;       /* probability of a 503 while failing */
    double fail_from_s;     /* failing during [fail_from_s, fail_until_s) */
    double fail_until_s;
    int connect_errors;     /* failures are connect errors, not 503 */
} demo_backend_model;

typedef struct demo_options {
    uint64_t seed;
    double duration_s;
    double client_rps;      /* per normal client */
    uint32_t clients;       /* normal clients (+1 abusive) */
    double abusive_rps;
    uint32_t hosts_per_cluster;
    double slow_ms;         /* median latency of the slow backend */
    double fail_rate;       /* 503 probability of the backend failing half-way */
    int algos[DEMO_MAX_ALGOS];
    int algo_count;
    const char *svg_path;   /* NULL = no chart */
    int verbose;
} demo_options;

/* Results of one run (one algorithm). */
typedef struct demo_result {
    int algorithm;
    uint64_t requests, ok, limited, upstream_fail, no_host, breaker_rejected, not_found;
    uint64_t route_hits[DEMO_ROUTES];
    uint64_t client_limited[2];   /* [0] all normal clients, [1] abusive client */
    uint64_t client_requests[2];
    uint32_t backend_count;
    demo_backend_model backends[DEMO_MAX_BACKENDS];
    uint64_t backend_requests[DEMO_MAX_BACKENDS];
    double backend_p50_ms[DEMO_MAX_BACKENDS], backend_p99_ms[DEMO_MAX_BACKENDS];
    double p50_ms, p99_ms, p999_ms;
    uint32_t buckets;             /* share-over-time buckets of bucket_s */
    double bucket_s;
    uint32_t bucket_counts[DEMO_MAX_BUCKETS][DEMO_MAX_BACKENDS];
    uint32_t log_count;
    char log[DEMO_MAX_LOG][96];   /* breaker transitions, ejections (main run) */
    double wall_ms;
} demo_result;

const char *demo_algo_name(int algorithm);
int demo_algo_parse(const char *name);

/* Run one simulation; returns 0 or a negative GWLB_E* code. */
int demo_run(const demo_options *opt, int algorithm, int keep_log, demo_result *out);

void demo_report(FILE *f, const demo_options *opt, const demo_result *results, int n);
int demo_write_svg(const char *path, const demo_options *opt, const demo_result *results, int n);

#endif

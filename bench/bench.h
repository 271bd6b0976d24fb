/*
 * gwlb-bench harness. Each component provides bench_<component>(ctx) and
 * calls bench_run() once per benchmark; the harness calibrates, warms up,
 * repeats, and prints a table or JSON.
 *
 *   static void pick(void *arg, uint64_t iters) { ... loop iters times ... }
 *   bench_run(ctx, &(bench_spec){ .name = "balancer.rr.pick",
 *             .params = "hosts=1000", .threads = 1, .fn = pick, .arg = &st,
 *             .target_ns = 10 });
 *
 * With threads = N > 1 the harness starts N threads that each run
 * fn(arg, iters) at once; ns_per_op is wall time / iters (what each thread
 * sees per operation). setup_thread, if set, gives each thread its own arg.
 */
#ifndef GWLB_BENCH_H
#define GWLB_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_ctx bench_ctx;

typedef void (*bench_fn)(void *arg, uint64_t iters);

typedef struct bench_spec {
    const char *name;    /* "component.algorithm.operation" */
    const char *params;  /* "hosts=1000,keys=100000" or NULL */
    int threads;         /* 0 or 1 = single thread */
    bench_fn fn;
    void *arg;
    void *(*thread_arg)(void *arg, int thread_index); /* optional per-thread arg */
    double target_ns;    /* stated target; 0 = none */
    double bytes;        /* memory per item (key/route/host) where relevant; 0 = n/a */
    const char *bytes_unit; /* "per_key", "per_route", ... */
} bench_spec;

/* Is a benchmark with this name selected by --filter? Check before a costly setup. */
int bench_selected(const bench_ctx *ctx, const char *name);

/* Quick mode (CI smoke run): components use smaller sizes where setup is costly. */
int bench_quick(const bench_ctx *ctx);

/* Time one benchmark and record the result (skipped when not selected). */
void bench_run(bench_ctx *ctx, const bench_spec *spec);

/* Record a one-shot measurement made by the component itself (e.g. a build time). */
void bench_record(bench_ctx *ctx, const bench_spec *spec, double ns_median, double ns_min,
                  double ns_max);

/* Keep a value alive so the compiler cannot drop the benchmarked work. */
extern volatile uint64_t bench_sink;

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

/* Fixed-seed generator for inputs (SplitMix64). */
uint64_t bench_rand(uint64_t *state);

/* Component entry points (bench/<component>/bench_<component>.c). */
void bench_common(bench_ctx *ctx);
void bench_balancer(bench_ctx *ctx);
void bench_hashing(bench_ctx *ctx);
void bench_health(bench_ctx *ctx);
void bench_limiter(bench_ctx *ctx);
void bench_router(bench_ctx *ctx);
void bench_breaker(bench_ctx *ctx);
void bench_redis(bench_ctx *ctx);
void bench_request(bench_ctx *ctx); /* full per-request decision */

#endif

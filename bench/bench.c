/*
 * gwlb-bench: measures every hot path of libgwlb.
 *
 *   gwlb-bench [--json] [--quick] [--filter SUBSTRING]
 *
 * Method: calibrate an iteration count so one run lasts ~20 ms (2 ms with
 * --quick), one warm-up run, then 9 runs (3 with --quick); report the
 * median, min and max ns per operation. Inputs come from fixed seeds.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile uint64_t bench_sink;

struct bench_ctx {
    int json;
    int quick;
    const char *filter;
    int printed;
    double run_ns;
    int runs;
};

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int bench_selected(const bench_ctx *ctx, const char *name)
{
    return ctx->filter == NULL || strstr(name, ctx->filter) != NULL;
}

int bench_quick(const bench_ctx *ctx)
{
    return ctx->quick;
}

typedef struct {
    const bench_spec *spec;
    void *arg;
    uint64_t iters;
    pthread_barrier_t *barrier;
    uint64_t start, end;
} thread_job;

static void *thread_main(void *p)
{
    thread_job *job = p;
    pthread_barrier_wait(job->barrier);
    job->start = bench_now_ns();
    job->spec->fn(job->arg, job->iters);
    job->end = bench_now_ns();
    return NULL;
}

static double time_once(const bench_spec *spec, uint64_t iters)
{
    int threads = spec->threads > 1 ? spec->threads : 1;
    if (threads == 1) {
        uint64_t t0 = bench_now_ns();
        spec->fn(spec->arg, iters);
        return (double)(bench_now_ns() - t0);
    }
    pthread_t tid[64];
    thread_job jobs[64];
    pthread_barrier_t barrier;
    if (threads > 64)
        threads = 64;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        jobs[i].spec = spec;
        jobs[i].arg = spec->thread_arg ? spec->thread_arg(spec->arg, i) : spec->arg;
        jobs[i].iters = iters;
        jobs[i].barrier = &barrier;
        pthread_create(&tid[i], NULL, thread_main, &jobs[i]);
    }
    pthread_barrier_wait(&barrier);
    uint64_t first = UINT64_MAX, last = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        if (jobs[i].start < first)
            first = jobs[i].start;
        if (jobs[i].end > last)
            last = jobs[i].end;
    }
    /* Wall time from the first thread's start to the last one's end. */
    double dt = (double)(last - first);
    pthread_barrier_destroy(&barrier);
    return dt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

void bench_record(bench_ctx *ctx, const bench_spec *spec, double med, double mn, double mx)
{
    int threads = spec->threads > 1 ? spec->threads : 1;
    if (ctx->json) {
        printf("%s\n  {\"name\": ", ctx->printed ? "," : "[");
        print_json_string(spec->name);
        printf(", \"params\": ");
        print_json_string(spec->params ? spec->params : "");
        printf(", \"threads\": %d, \"ns_per_op\": %.3f, \"ns_min\": %.3f, \"ns_max\": %.3f",
               threads, med, mn, mx);
        if (spec->target_ns > 0)
            printf(", \"target_ns\": %.3f, \"target_met\": %s", spec->target_ns,
                   med <= spec->target_ns ? "true" : "false");
        if (spec->bytes > 0) {
            printf(", \"bytes\": %.1f, \"bytes_unit\": ", spec->bytes);
            print_json_string(spec->bytes_unit ? spec->bytes_unit : "");
        }
        printf("}");
    } else {
        if (!ctx->printed)
            printf("%-40s %-26s %3s %12s %12s %12s %10s %s\n", "benchmark", "params", "thr",
                   "ns/op(med)", "min", "max", "target", "bytes");
        char target[32] = "-";
        if (spec->target_ns > 0)
            snprintf(target, sizeof target, "%.0f%s", spec->target_ns,
                     med <= spec->target_ns ? " ok" : " MISS");
        printf("%-40s %-26s %3d %12.2f %12.2f %12.2f %10s", spec->name,
               spec->params ? spec->params : "", threads, med, mn, mx, target);
        if (spec->bytes > 0)
            printf(" %.1f %s", spec->bytes, spec->bytes_unit ? spec->bytes_unit : "");
        printf("\n");
    }
    fflush(stdout);
    ctx->printed++;
}

void bench_run(bench_ctx *ctx, const bench_spec *spec)
{
    if (!bench_selected(ctx, spec->name))
        return;
    uint64_t iters = 1;
    for (;;) { /* calibrate */
        double dt = time_once(spec, iters);
        if (dt >= ctx->run_ns / 4 || iters >= (UINT64_C(1) << 40))
            break;
        iters *= dt < ctx->run_ns / 64 ? 8 : 2;
    }
    double samples[32];
    time_once(spec, iters); /* warm-up */
    for (int r = 0; r < ctx->runs; r++)
        samples[r] = time_once(spec, iters) / (double)iters;
    qsort(samples, (size_t)ctx->runs, sizeof samples[0], cmp_double);
    bench_record(ctx, spec, samples[ctx->runs / 2], samples[0], samples[ctx->runs - 1]);
}

static void usage(void)
{
    fprintf(stderr, "usage: gwlb-bench [--json] [--quick] [--filter SUBSTRING]\n");
}

int main(int argc, char **argv)
{
    bench_ctx ctx = {0, 0, NULL, 0, 20e6, 9};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            ctx.json = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            ctx.quick = 1;
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            ctx.filter = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (ctx.quick) {
        ctx.run_ns = 2e6;
        ctx.runs = 3;
    }
    void (*components[])(bench_ctx *) = {bench_common, bench_balancer, bench_hashing,
                                         bench_health, bench_limiter,  bench_router,
                                         bench_breaker, bench_redis,   bench_request};
    for (size_t i = 0; i < sizeof components / sizeof components[0]; i++)
        components[i](&ctx);
    if (ctx.json)
        printf("%s\n", ctx.printed ? "\n]" : "[]");
    return 0;
}

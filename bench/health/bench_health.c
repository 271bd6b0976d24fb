/*
 * Benchmarks of the health component:
 *   health.report.success / .mixed    one outcome reported (target 15 ns); also
 *                                     with 2 threads on one tracker
 *   health.outlier.pass               one Envoy outlier pass over 1000 hosts
 *                                     (target 50 us), buckets refilled each time
 *   health.probes.due_and_report      10k hosts, ~1 probe due per call: query +
 *                                     result + reschedule (heap, no scan)
 *   health.probes.none_due            10k hosts, nothing due (heap top only)
 */
#include <stdlib.h>

#include "bench.h"
#include "gwlb/health.h"
#include "health/health_internal.h"

struct report_arg {
    gwlb_health *h;
    uint32_t n;
    uint32_t every_5xx; /* 0 = never */
    uint32_t start;     /* first host (threads start apart) */
};

static struct report_arg thread_args[2];

static void *report_thread_arg(void *arg, int index)
{
    struct report_arg *a = arg;
    thread_args[index & 1] = *a;
    thread_args[index & 1].start = (uint32_t)(index & 1) * (a->n / 2);
    return &thread_args[index & 1];
}

static void report_loop(void *arg, uint64_t iters)
{
    struct report_arg *a = arg;
    uint32_t host = a->start, k = 0;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        uint32_t status = 200;
        if (a->every_5xx && ++k == a->every_5xx) {
            k = 0;
            status = 503;
        }
        acc += (uint64_t)gwlb_health_report_status(a->h, host, status, i);
        if (++host == a->n)
            host = 0;
    }
    bench_sink = acc;
}

struct pass_arg {
    gwlb_health *h;
    uint64_t *buckets;
    uint64_t now;
};

static void pass_loop(void *arg, uint64_t iters)
{
    struct pass_arg *a = arg;
    gwlb_health_outlier_report rep;
    for (uint64_t i = 0; i < iters; i++) {
        /* refill the interval counters (1000 relaxed stores, included in the figure) */
        for (uint32_t j = 0; j < a->h->n; j++)
            atomic_store_explicit(GWLB__A64(&a->h->hosts[j].bucket), a->buckets[j],
                                  memory_order_relaxed);
        a->now += 10 * GWLB_NS_PER_SEC;
        gwlb_health_outlier_run(a->h, a->now, &rep);
        bench_sink += rep.success_rate_hosts;
    }
}

struct probe_arg {
    gwlb_health *h;
    uint64_t now;
    uint64_t step;
};

static void probe_loop(void *arg, uint64_t iters)
{
    struct probe_arg *a = arg;
    uint32_t due[64];
    gwlb_probe_result res = {.outcome = GWLB_PROBE_PASS, .weight_percent = -1};
    for (uint64_t i = 0; i < iters; i++) {
        size_t n = 0;
        uint64_t next;
        a->now += a->step;
        gwlb_health_probes_due(a->h, a->now, due, 64, &n, &next);
        for (size_t k = 0; k < n; k++)
            gwlb_health_probe_report(a->h, due[k], &res, a->now);
        bench_sink += n + (next & 1);
    }
}

static void none_due_loop(void *arg, uint64_t iters)
{
    struct probe_arg *a = arg;
    uint32_t due[8];
    for (uint64_t i = 0; i < iters; i++) {
        size_t n = 0;
        uint64_t next;
        gwlb_health_probes_due(a->h, a->now, due, 8, &n, &next);
        bench_sink += n + next;
    }
}

void bench_health(bench_ctx *ctx)
{
    gwlb_health_config c;

    /* outcome reporting */
    gwlb_health_config_init(&c);
    gwlb_health *h = NULL;
    if (gwlb_health_create(&c, 1000, 0, NULL, 0, 0, NULL, &h, NULL) == 0) {
        struct report_arg a = {.h = h, .n = 1000, .every_5xx = 0};
        bench_run(ctx, &(bench_spec){.name = "health.report.success", .params = "hosts=1000",
                                     .fn = report_loop, .arg = &a, .target_ns = 15});
        struct report_arg m = {.h = h, .n = 1000, .every_5xx = 100};
        bench_run(ctx, &(bench_spec){.name = "health.report.mixed",
                                     .params = "hosts=1000,5xx=1%", .fn = report_loop, .arg = &m,
                                     .target_ns = 15});
        /* two threads walking the hosts 500 apart (shared records, no same-line fight) */
        bench_run(ctx, &(bench_spec){.name = "health.report.success", .params = "hosts=1000",
                                     .threads = 2, .fn = report_loop, .arg = &a,
                                     .thread_arg = report_thread_arg, .target_ns = 15});
        gwlb_health_free(h);
    }

    /* outlier pass over 1000 hosts: 990 near 99.5%, 10 at 50%; success rate
     * computed every pass, ejection detected but not enforced (state stays
     * the same from pass to pass) */
    gwlb_health_config_init(&c);
    c.enforcing_success_rate = 0;
    h = NULL;
    if (bench_selected(ctx, "health.outlier.pass") &&
        gwlb_health_create(&c, 1000, 0, NULL, 0, 0, NULL, &h, NULL) == 0) {
        uint64_t *b = malloc(1000 * sizeof *b);
        uint64_t s = 12345;
        for (uint32_t j = 0; j < 1000; j++) {
            uint64_t total = 200 + bench_rand(&s) % 100;
            uint64_t ok = j % 100 == 7 ? total / 2 : total - bench_rand(&s) % 3;
            b[j] = total << 32 | ok;
        }
        struct pass_arg a = {.h = h, .buckets = b, .now = 0};
        bench_run(ctx, &(bench_spec){.name = "health.outlier.pass", .params = "hosts=1000",
                                     .fn = pass_loop, .arg = &a, .target_ns = 50000});
        free(b);
        gwlb_health_free(h);
    }

    /* probe scheduling over 10k hosts, inter 2 s: one host due per 200 us */
    gwlb_health_config_init(&c);
    c.active_checks = 1;
    c.init_state = GWLB_HEALTH_INIT_FULLY_UP;
    c.jitter_percent = 10;
    h = NULL;
    if (gwlb_health_create(&c, 10000, 0, NULL, 0, 0, NULL, &h, NULL) == 0) {
        struct probe_arg a = {.h = h, .now = 0, .step = 200 * GWLB_NS_PER_US};
        bench_run(ctx, &(bench_spec){.name = "health.probes.due_and_report",
                                     .params = "hosts=10000,due=~1/call", .fn = probe_loop,
                                     .arg = &a});
        uint64_t next = 0;
        size_t n = 0;
        gwlb_health_probes_due(h, a.now, NULL, 0, &n, &next);
        struct probe_arg z = {.h = h, .now = next - 1};
        bench_run(ctx, &(bench_spec){.name = "health.probes.none_due", .params = "hosts=10000",
                                     .fn = none_due_loop, .arg = &z});
        gwlb_health_free(h);
    }
}

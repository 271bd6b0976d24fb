/*
 * Benchmarks of the breaker component: allow + record in closed state
 * (consecutive-failure breaker, and a resilience4j count window), allow
 * while open (rejecting), resource-limit acquire + release, the token
 * retry budget; single thread and two threads sharing one object, and
 * the opt-in exclusive modes (one mutating thread, no locked instruction).
 */
#include "bench.h"
#include "gwlb.h"

typedef struct breaker_bench {
    gwlb_breaker breaker __attribute__((aligned(64)));
    gwlb_breaker_config cfg;
} breaker_bench;

static void b_allow_record(void *arg, uint64_t n)
{
    breaker_bench *bb = arg;
    uint64_t now = GWLB_NS_PER_SEC, acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t;
        now += 1000;
        if (gwlb_breaker_allow(&bb->breaker, &bb->cfg, now, &t) == 0)
            acc += (uint64_t)gwlb_breaker_record(&bb->breaker, &bb->cfg, t, GWLB_BREAKER_SUCCESS,
                                                 1000, now);
    }
    bench_sink = acc;
}

/* One failure in 8: exercises the verdict (consecutive count / window sum). */
static void b_allow_record_mixed(void *arg, uint64_t n)
{
    breaker_bench *bb = arg;
    uint64_t now = GWLB_NS_PER_SEC, acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t;
        now += 1000;
        if (gwlb_breaker_allow(&bb->breaker, &bb->cfg, now, &t) == 0)
            acc += (uint64_t)gwlb_breaker_record(
                &bb->breaker, &bb->cfg, t,
                (i & 7) == 0 ? GWLB_BREAKER_FAILURE : GWLB_BREAKER_SUCCESS, 1000, now);
    }
    bench_sink = acc;
}

static void b_allow_open(void *arg, uint64_t n)
{
    breaker_bench *bb = arg;
    uint64_t now = GWLB_NS_PER_SEC, acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t;
        acc += (uint64_t)gwlb_breaker_allow(&bb->breaker, &bb->cfg, now + i, &t);
    }
    bench_sink = acc;
}

typedef struct resources_bench {
    gwlb_resources res __attribute__((aligned(64)));
    gwlb_resource_config cfg;
} resources_bench;

static void b_acquire_release(void *arg, uint64_t n)
{
    resources_bench *rb = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (gwlb_resources_acquire(&rb->res, &rb->cfg, GWLB_RESOURCE_REQUESTS) == 0)
            acc += (uint64_t)gwlb_resources_release(&rb->res, GWLB_RESOURCE_REQUESTS);
    }
    bench_sink = acc;
}

static void b_retry_acquire_release(void *arg, uint64_t n)
{
    resources_bench *rb = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (gwlb_resources_acquire(&rb->res, &rb->cfg, GWLB_RESOURCE_RETRIES) == 0)
            acc += (uint64_t)gwlb_resources_release(&rb->res, GWLB_RESOURCE_RETRIES);
    }
    bench_sink = acc;
}

typedef struct budget_bench {
    gwlb_retry_budget budget __attribute__((aligned(64)));
    gwlb_retry_budget_config cfg;
} budget_bench;

static void b_budget(void *arg, uint64_t n)
{
    budget_bench *bb = arg;
    uint64_t now = GWLB_NS_PER_SEC, acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        now += 1000;
        gwlb_retry_budget_deposit(&bb->budget, &bb->cfg, now);
        if ((i & 7) == 0)
            acc += (uint64_t)gwlb_retry_budget_withdraw(&bb->budget, &bb->cfg, now);
    }
    bench_sink = acc;
}

static void b_acquire_release_exclusive(void *arg, uint64_t n)
{
    resources_bench *rb = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (gwlb_resources_acquire_exclusive(&rb->res, &rb->cfg, GWLB_RESOURCE_REQUESTS) == 0)
            acc += (uint64_t)gwlb_resources_release_exclusive(&rb->res, GWLB_RESOURCE_REQUESTS);
    }
    bench_sink = acc;
}

static breaker_bench g_closed, g_window, g_time, g_open, g_fast, g_fast_open;
static breaker_bench g_excl, g_excl_window, g_excl_open;
static resources_bench g_res, g_retry, g_res_excl;
/* per-worker objects: each thread its own breaker / limits (exclusive use) */
static breaker_bench g_excl_worker[2];
static resources_bench g_res_worker[2];

static void *excl_worker_arg(void *arg, int i)
{
    (void)arg;
    return &g_excl_worker[i & 1];
}

static void *res_worker_arg(void *arg, int i)
{
    (void)arg;
    return &g_res_worker[i & 1];
}
static budget_bench g_budget;

void bench_breaker(bench_ctx *ctx)
{
    /* gobreaker defaults: consecutive failures only */
    gwlb_breaker_config_init(&g_closed.cfg);
    gwlb_breaker_init(&g_closed.breaker, &g_closed.cfg, 1, NULL);
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "consecutive=6", .fn = b_allow_record,
                                 .arg = &g_closed, .target_ns = 15});
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "consecutive=6", .threads = 2,
                                 .fn = b_allow_record, .arg = &g_closed});

    /* the same with fast_counters: one atomic add per allow + record */
    gwlb_breaker_config_init(&g_fast.cfg);
    g_fast.cfg.fast_counters = 1;
    gwlb_breaker_init(&g_fast.breaker, &g_fast.cfg, 1, NULL);
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "consecutive=6,fast_counters", .fn = b_allow_record,
                                 .arg = &g_fast, .target_ns = 15});
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "consecutive=6,fast_counters", .threads = 2,
                                 .fn = b_allow_record, .arg = &g_fast});

    /* exclusive mode (one mutating thread): no locked instruction at all */
    gwlb_breaker_config_init(&g_excl.cfg);
    gwlb_breaker_init(&g_excl.breaker, &g_excl.cfg, 1, NULL);
    gwlb_breaker_set_exclusive(&g_excl.breaker, 1);
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "consecutive=6,exclusive", .fn = b_allow_record,
                                 .arg = &g_excl, .target_ns = 15});

    for (int i = 0; i < 2; i++) {
        gwlb_breaker_config_init(&g_excl_worker[i].cfg);
        gwlb_breaker_init(&g_excl_worker[i].breaker, &g_excl_worker[i].cfg, 1, NULL);
        gwlb_breaker_set_exclusive(&g_excl_worker[i].breaker, 1);
    }
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "consecutive=6,exclusive,per_worker", .threads = 2,
                                 .fn = b_allow_record, .thread_arg = excl_worker_arg});

    /* resilience4j defaults: 100-call window, 50 % */
    gwlb_breaker_config_init_resilience4j(&g_window.cfg);
    g_window.cfg.failure_rate_percent = 90;
    gwlb_breaker_init(&g_window.breaker, &g_window.cfg, 1, NULL);
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "count_window=100", .fn = b_allow_record,
                                 .arg = &g_window, .target_ns = 15});
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record_1in8_fail",
                                 .params = "count_window=100", .fn = b_allow_record_mixed,
                                 .arg = &g_window});
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "count_window=100", .threads = 2,
                                 .fn = b_allow_record, .arg = &g_window});
    g_excl_window.cfg = g_window.cfg;
    gwlb_breaker_init(&g_excl_window.breaker, &g_excl_window.cfg, 1, NULL);
    gwlb_breaker_set_exclusive(&g_excl_window.breaker, 1);
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "count_window=100,exclusive", .fn = b_allow_record,
                                 .arg = &g_excl_window, .target_ns = 15});

    /* time window: 10 buckets of 1 s */
    gwlb_breaker_config_init_resilience4j(&g_time.cfg);
    g_time.cfg.failure_rate_percent = 90;
    g_time.cfg.window_kind = GWLB_BREAKER_WINDOW_TIME;
    g_time.cfg.window_size = 10;
    g_time.cfg.minimum_calls = 10;
    gwlb_breaker_init(&g_time.breaker, &g_time.cfg, 1, NULL);
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record",
                                 .params = "time_window=10x1s", .fn = b_allow_record,
                                 .arg = &g_time});
    bench_run(ctx, &(bench_spec){.name = "breaker.closed.allow_record_1in8_fail",
                                 .params = "time_window=10x1s", .fn = b_allow_record_mixed,
                                 .arg = &g_time});

    /* open, rejecting: the wait never ends during the run */
    gwlb_breaker_config_init(&g_open.cfg);
    g_open.cfg.open_wait_ns = UINT64_MAX / 2;
    gwlb_breaker_init(&g_open.breaker, &g_open.cfg, 1, NULL);
    gwlb_breaker_transition(&g_open.breaker, &g_open.cfg, GWLB_BREAKER_OPEN, 0);
    bench_run(ctx, &(bench_spec){.name = "breaker.open.allow_reject", .fn = b_allow_open,
                                 .arg = &g_open, .target_ns = 5});
    bench_run(ctx, &(bench_spec){.name = "breaker.open.allow_reject", .threads = 2,
                                 .fn = b_allow_open, .arg = &g_open});

    gwlb_breaker_config_init(&g_fast_open.cfg);
    g_fast_open.cfg.open_wait_ns = UINT64_MAX / 2;
    g_fast_open.cfg.fast_counters = 1;
    gwlb_breaker_init(&g_fast_open.breaker, &g_fast_open.cfg, 1, NULL);
    gwlb_breaker_transition(&g_fast_open.breaker, &g_fast_open.cfg, GWLB_BREAKER_OPEN, 0);
    bench_run(ctx, &(bench_spec){.name = "breaker.open.allow_reject", .params = "fast_counters",
                                 .fn = b_allow_open, .arg = &g_fast_open, .target_ns = 5});
    bench_run(ctx, &(bench_spec){.name = "breaker.open.allow_reject", .params = "fast_counters",
                                 .threads = 2, .fn = b_allow_open, .arg = &g_fast_open});

    gwlb_breaker_config_init(&g_excl_open.cfg);
    g_excl_open.cfg.open_wait_ns = UINT64_MAX / 2;
    gwlb_breaker_init(&g_excl_open.breaker, &g_excl_open.cfg, 1, NULL);
    gwlb_breaker_set_exclusive(&g_excl_open.breaker, 1);
    gwlb_breaker_transition(&g_excl_open.breaker, &g_excl_open.cfg, GWLB_BREAKER_OPEN, 0);
    bench_run(ctx, &(bench_spec){.name = "breaker.open.allow_reject", .params = "exclusive",
                                 .fn = b_allow_open, .arg = &g_excl_open, .target_ns = 5});

    gwlb_resource_config_init(&g_res.cfg);
    gwlb_resources_init(&g_res.res);
    bench_run(ctx, &(bench_spec){.name = "breaker.resources.acquire_release",
                                 .params = "max_requests=1024", .fn = b_acquire_release,
                                 .arg = &g_res, .target_ns = 10});
    bench_run(ctx, &(bench_spec){.name = "breaker.resources.acquire_release",
                                 .params = "max_requests=1024", .threads = 2,
                                 .fn = b_acquire_release, .arg = &g_res});

    gwlb_resource_config_init(&g_res_excl.cfg);
    gwlb_resources_init(&g_res_excl.res);
    bench_run(ctx, &(bench_spec){.name = "breaker.resources.acquire_release",
                                 .params = "max_requests=1024,exclusive",
                                 .fn = b_acquire_release_exclusive, .arg = &g_res_excl,
                                 .target_ns = 10});

    for (int i = 0; i < 2; i++) {
        gwlb_resource_config_init(&g_res_worker[i].cfg);
        gwlb_resources_init(&g_res_worker[i].res);
    }
    bench_run(ctx, &(bench_spec){.name = "breaker.resources.acquire_release",
                                 .params = "max_requests=1024,exclusive,per_worker",
                                 .threads = 2, .fn = b_acquire_release_exclusive,
                                 .thread_arg = res_worker_arg});

    gwlb_resource_config_init(&g_retry.cfg);
    g_retry.cfg.retry_budget = 1;
    gwlb_resources_init(&g_retry.res);
    bench_run(ctx, &(bench_spec){.name = "breaker.resources.retry_acquire_release",
                                 .params = "budget=20%,min=3", .fn = b_retry_acquire_release,
                                 .arg = &g_retry});

    gwlb_retry_budget_config_init(&g_budget.cfg);
    gwlb_retry_budget_init(&g_budget.budget, &g_budget.cfg, NULL);
    bench_run(ctx, &(bench_spec){.name = "breaker.retry_budget.deposit_withdraw1in8",
                                 .params = "ttl=10s", .fn = b_budget, .arg = &g_budget});
}

/*
 * Benchmarks of the limiter: one GCRA bucket (uncontended and two threads
 * on the same bucket), nginx limit_req mode, and the keyed table at 100k
 * and 1M keys (random key order, every key already tracked), each in the
 * default (concurrency-safe) mode and the opt-in exclusive mode; the
 * table also through the 16-request batch call. The table rows are
 * repeated with the table in a zone the bench maps itself with transparent
 * huge pages (params "...,hugepages"): what a host gets when it owns the
 * zone memory (as nginx does) and backs it with 2 MiB pages; the plain
 * rows use gwlb_limiter_table_new (malloc, 4 KiB pages).
 */
#define _GNU_SOURCE /* MADV_HUGEPAGE */
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "gwlb.h"

#define SEC GWLB_NS_PER_SEC

typedef struct bucket_arg {
    gwlb_gcra bucket;
    uint64_t now;
} bucket_arg;

/* Steady state: T = 1 ms, a request every 0.5 ms: every other one admitted. */
static void b_gcra_allow(void *arg, uint64_t n)
{
    bucket_arg *a = arg;
    uint64_t now = a->now, acc = 0;
    gwlb_limit_result r;
    for (uint64_t i = 0; i < n; i++) {
        now += 500000;
        gwlb_gcra_allow(&a->bucket, now, 1, &r);
        acc += (uint64_t)r.allowed + r.remaining;
    }
    a->now = now;
    bench_sink = acc;
}

static void b_gcra_allow_exclusive(void *arg, uint64_t n)
{
    bucket_arg *a = arg;
    uint64_t now = a->now, acc = 0;
    gwlb_limit_result r;
    for (uint64_t i = 0; i < n; i++) {
        now += 500000;
        gwlb_gcra_allow_exclusive(&a->bucket, now, 1, &r);
        acc += (uint64_t)r.allowed + r.remaining;
    }
    a->now = now;
    bench_sink = acc;
}

static void b_gcra_admit(void *arg, uint64_t n)
{
    bucket_arg *a = arg;
    uint64_t now = a->now, acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        now += 500000;
        acc += (uint64_t)gwlb_gcra_admit(&a->bucket, now, 1);
    }
    a->now = now;
    bench_sink = acc;
}

typedef struct thread_arg {
    gwlb_gcra *bucket;
    uint64_t now;
} thread_arg;

static void b_gcra_allow_shared(void *arg, uint64_t n)
{
    thread_arg *a = arg;
    uint64_t now = a->now, acc = 0;
    gwlb_limit_result r;
    for (uint64_t i = 0; i < n; i++) {
        now += 500000;
        gwlb_gcra_allow(a->bucket, now, 1, &r);
        acc += (uint64_t)r.allowed;
    }
    a->now = now;
    bench_sink = acc;
}

static gwlb_gcra shared_bucket;
static thread_arg thread_args[2];

static void *thread_arg_of(void *arg, int index)
{
    (void)arg;
    thread_args[index].bucket = &shared_bucket;
    thread_args[index].now = UINT64_C(1000) * SEC;
    return &thread_args[index];
}

typedef struct nginx_arg {
    gwlb_limit_req limiter;
    uint64_t now;
} nginx_arg;

static void b_limit_req_allow(void *arg, uint64_t n)
{
    nginx_arg *a = arg;
    uint64_t now = a->now, acc = 0;
    gwlb_limit_result r;
    for (uint64_t i = 0; i < n; i++) {
        now += 250000; /* 4000 r/s offered to a 2000 r/s limit */
        gwlb_limit_req_allow(&a->limiter, now, &r);
        acc += (uint64_t)r.allowed + r.delay_ns;
    }
    a->now = now;
    bench_sink = acc;
}

static void b_limit_req_allow_exclusive(void *arg, uint64_t n)
{
    nginx_arg *a = arg;
    uint64_t now = a->now, acc = 0;
    gwlb_limit_result r;
    for (uint64_t i = 0; i < n; i++) {
        now += 250000;
        gwlb_limit_req_allow_exclusive(&a->limiter, now, &r);
        acc += (uint64_t)r.allowed + r.delay_ns;
    }
    a->now = now;
    bench_sink = acc;
}

typedef struct table_arg {
    gwlb_limiter_table *table;
    uint64_t nkeys;
    uint64_t rng;
    uint64_t now;
} table_arg;

/* Key i is the 8 bytes of gwlb_mix64(i): computed, not loaded, as a host
 * has the key in the request it is parsing (no extra cache miss). The
 * index is drawn uniformly with a multiply-shift, not `% nkeys` (a 64-bit
 * divide, ~15 ns here, would be timed as part of the table). */
__extension__ typedef unsigned __int128 bench_u128;

static inline uint64_t key_index(uint64_t *rng, uint64_t nkeys)
{
    return (uint64_t)(((bench_u128)bench_rand(rng) * nkeys) >> 64);
}

typedef int (*table_allow_fn)(gwlb_limiter_table *, const void *, size_t, uint64_t, uint64_t,
                              gwlb_limit_result *);

/* One key per call through allow (a constant at each caller, so the
 * inlined loop calls it directly). */
static inline __attribute__((always_inline)) void table_loop(table_arg *a, uint64_t n,
                                                              table_allow_fn allow)
{
    uint64_t now = a->now, acc = 0, rng = a->rng;
    gwlb_limit_result r;
    for (uint64_t i = 0; i < n; i++) {
        now += 1000;
        uint64_t k = gwlb_mix64(key_index(&rng, a->nkeys));
        allow(a->table, &k, sizeof k, now, 1, &r);
        acc += (uint64_t)r.allowed;
    }
    a->rng = rng;
    a->now = now;
    bench_sink = acc;
}

static void b_table_allow(void *arg, uint64_t n)
{
    table_loop(arg, n, gwlb_limiter_table_allow);
}

static void b_table_allow_exclusive(void *arg, uint64_t n)
{
    table_loop(arg, n, gwlb_limiter_table_allow_exclusive);
}

/* The same request stream one at a time, each next key prefetched with
 * gwlb_limiter_table_prefetch before the current one is decided (a host
 * that knows the next key early: one request of look-ahead). */
static void b_table_allow_prefetch(void *arg, uint64_t n)
{
    table_arg *a = arg;
    uint64_t now = a->now, acc = 0, rng = a->rng;
    gwlb_limit_result r;
    uint64_t next = gwlb_mix64(key_index(&rng, a->nkeys));
    for (uint64_t i = 0; i < n; i++) {
        now += 1000;
        uint64_t k = next;
        next = gwlb_mix64(key_index(&rng, a->nkeys));
        gwlb_limiter_table_prefetch(a->table, &next, sizeof next);
        gwlb_limiter_table_allow(a->table, &k, sizeof k, now, 1, &r);
        acc += (uint64_t)r.allowed;
    }
    a->rng = rng;
    a->now = now;
    bench_sink = acc;
}

/* The same request stream, 16 at a time through gwlb_limiter_table_allow_batch
 * (ns per request): what a host with several requests ready gets. */
static void b_table_allow_batch(void *arg, uint64_t n)
{
    enum { BATCH = GWLB_LIMITER_TABLE_BATCH_MAX };
    table_arg *a = arg;
    uint64_t now = a->now, acc = 0, rng = a->rng;
    uint64_t keys[BATCH];
    const void *kp[BATCH];
    size_t kl[BATCH];
    gwlb_limit_result r[BATCH];
    for (unsigned j = 0; j < BATCH; j++) {
        kp[j] = &keys[j];
        kl[j] = sizeof keys[j];
    }
    for (uint64_t i = 0; i < n; i += BATCH) {
        size_t m = n - i < BATCH ? (size_t)(n - i) : BATCH;
        now += 1000 * m;
        for (size_t j = 0; j < m; j++)
            keys[j] = gwlb_mix64(key_index(&rng, a->nkeys));
        gwlb_limiter_table_allow_batch(a->table, kp, kl, m, now, 1, r);
        for (size_t j = 0; j < m; j++)
            acc += (uint64_t)r[j].allowed;
    }
    a->rng = rng;
    a->now = now;
    bench_sink = acc;
}

/* A zone of `bytes` in 2 MiB-aligned anonymous memory with transparent
 * huge pages requested (THP "madvise" mode is enough); map and map_len for
 * munmap. NULL when mmap fails. */
#define HUGE_2M ((size_t)2 << 20)
static void *huge_zone(size_t bytes, void **map, size_t *map_len)
{
    size_t len = (bytes + HUGE_2M - 1) / HUGE_2M * HUGE_2M + HUGE_2M;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    unsigned char *zone = (unsigned char *)(((uintptr_t)m + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
#ifdef MADV_HUGEPAGE
    madvise(zone, len - (size_t)(zone - (unsigned char *)m), MADV_HUGEPAGE);
#endif
    *map = m;
    *map_len = len;
    return zone;
}

/* Table rows for nkeys keys, in memory from gwlb_limiter_table_new
 * (hugepages 0) or in a huge-page zone (hugepages 1); a NULL params
 * skips that row. */
static void bench_table(bench_ctx *ctx, uint64_t nkeys, double target, const char *name,
                        const char *params, const char *params_exclusive,
                        const char *params_prefetch, const char *params_batch, int hugepages)
{
    if (!bench_selected(ctx, name))
        return;
    /* Table memory: 16 B per slot; sized at 1.6 slots per key (25.6 B/key). */
    size_t bytes = gwlb_limiter_table_bytes(nkeys + nkeys * 3 / 5);
    gwlb_limiter_policy p;
    memset(&p, 0, sizeof p);
    p.kind = GWLB_LIMITER_GCRA;
    gwlb_gcra_config_init(&p.u.gcra, 100, SEC, 10);
    static const uint8_t hkey[16] = {7, 7, 7};
    table_arg a = {0};
    void *map = NULL;
    size_t map_len = 0;
    if (hugepages) {
        void *zone = huge_zone(bytes, &map, &map_len);
        if (zone == NULL || gwlb_limiter_table_init(zone, bytes, &p, hkey, &a.table) != GWLB_OK) {
            if (map != NULL)
                munmap(map, map_len);
            return;
        }
    } else if (gwlb_limiter_table_new(bytes, &p, hkey, NULL, &a.table) != GWLB_OK) {
        return;
    }
    a.nkeys = nkeys;
    a.rng = 99;
    a.now = UINT64_C(1000) * SEC;
    for (uint64_t i = 0; i < nkeys; i++) { /* insert every key once */
        uint64_t k = gwlb_mix64(i);
        gwlb_limiter_table_allow(a.table, &k, sizeof k, a.now, 1, NULL);
    }
    double per_key = (double)bytes / (double)nkeys;
    bench_run(ctx, &(bench_spec){.name = name, .params = params, .fn = b_table_allow, .arg = &a,
                                 .target_ns = target, .bytes = per_key, .bytes_unit = "per_key"});
    if (params_exclusive != NULL)
        bench_run(ctx, &(bench_spec){.name = name, .params = params_exclusive,
                                     .fn = b_table_allow_exclusive, .arg = &a,
                                     .target_ns = target, .bytes = per_key,
                                     .bytes_unit = "per_key"});
    if (params_prefetch != NULL)
        bench_run(ctx, &(bench_spec){.name = name, .params = params_prefetch,
                                     .fn = b_table_allow_prefetch, .arg = &a,
                                     .target_ns = target, .bytes = per_key,
                                     .bytes_unit = "per_key"});
    bench_run(ctx, &(bench_spec){.name = name, .params = params_batch, .fn = b_table_allow_batch,
                                 .arg = &a, .target_ns = target, .bytes = per_key,
                                 .bytes_unit = "per_key"});
    if (hugepages)
        munmap(map, map_len);
    else
        gwlb_limiter_table_free(a.table);
}

void bench_limiter(bench_ctx *ctx)
{
    static bucket_arg one;
    gwlb_gcra_init(&one.bucket, 1000, SEC, 10);
    one.now = UINT64_C(1000) * SEC;
    bench_run(ctx, &(bench_spec){.name = "limiter.gcra.allow", .params = "uncontended",
                                 .fn = b_gcra_allow, .arg = &one, .target_ns = 12});
    static bucket_arg excl;
    gwlb_gcra_init(&excl.bucket, 1000, SEC, 10);
    excl.now = UINT64_C(1000) * SEC;
    bench_run(ctx, &(bench_spec){.name = "limiter.gcra.allow", .params = "uncontended,exclusive",
                                 .fn = b_gcra_allow_exclusive, .arg = &excl, .target_ns = 12});
    static bucket_arg lean;
    gwlb_gcra_init(&lean.bucket, 1000, SEC, 10);
    lean.now = UINT64_C(1000) * SEC;
    bench_run(ctx, &(bench_spec){.name = "limiter.gcra.admit", .params = "decision_only",
                                 .fn = b_gcra_admit, .arg = &lean, .target_ns = 12});
    gwlb_gcra_init(&shared_bucket, 1000, SEC, 10);
    bench_run(ctx, &(bench_spec){.name = "limiter.gcra.allow", .params = "threads=2,one_bucket",
                                 .threads = 2, .fn = b_gcra_allow_shared,
                                 .thread_arg = thread_arg_of});
    static nginx_arg ngx;
    gwlb_limit_req_init(&ngx.limiter, 2000, GWLB_LIMIT_REQ_PER_SECOND, 20, 10);
    ngx.now = UINT64_C(1000) * SEC;
    bench_run(ctx, &(bench_spec){.name = "limiter.limit_req.allow", .params = "burst=20,delay=10",
                                 .fn = b_limit_req_allow, .arg = &ngx, .target_ns = 12});
    static nginx_arg ngx_excl;
    gwlb_limit_req_init(&ngx_excl.limiter, 2000, GWLB_LIMIT_REQ_PER_SECOND, 20, 10);
    ngx_excl.now = UINT64_C(1000) * SEC;
    bench_run(ctx, &(bench_spec){.name = "limiter.limit_req.allow",
                                 .params = "burst=20,delay=10,exclusive",
                                 .fn = b_limit_req_allow_exclusive, .arg = &ngx_excl,
                                 .target_ns = 12});
    bench_table(ctx, 100000, 60, "limiter.table.allow", "keys=100000",
                "keys=100000,exclusive", "keys=100000,prefetch_ahead=1", "keys=100000,batch=16",
                0);
    if (!bench_quick(ctx)) {
        bench_table(ctx, 100000, 60, "limiter.table.allow", "keys=100000,hugepages", NULL,
                    "keys=100000,prefetch_ahead=1,hugepages", "keys=100000,batch=16,hugepages",
                    1);
        bench_table(ctx, 1000000, 120, "limiter.table.allow", "keys=1000000",
                    "keys=1000000,exclusive", "keys=1000000,prefetch_ahead=1",
                    "keys=1000000,batch=16", 0);
        bench_table(ctx, 1000000, 120, "limiter.table.allow", "keys=1000000,hugepages", NULL,
                    "keys=1000000,prefetch_ahead=1,hugepages",
                    "keys=1000000,batch=16,hugepages", 1);
    }
}
